"""`rtmap compile --report`: what a compiled layer costs, one line per layer."""

from __future__ import annotations

from .analysis import activation_words
from .pipeline import CompiledLayer

COLUMNS = ("layer", "mapping", "terms", "adds_naive", "adds", "temporaries", "maxima", "searches",
           "writes", "shifts", "cycles", "words_in", "words_out", "program_words")


def layer_report(name: str, layer, compiled: CompiledLayer) -> dict:
    """Per run of ``compiled.plan.active_rows`` rows. ``adds_naive``: two-operand adds of the
    folded sums; ``adds``: those the program performs, after CSE; ``temporaries``: shared
    values it computes; ``maxima``: a max-pool's two-operand maxima."""
    plan, stats, ops = compiled.plan, compiled.program.meta["stats"], compiled.program.meta["ops"]
    mapping = (f"{len(plan.tiles)} tiles x {len(plan.groups)} groups" if plan.reloads
               else f"resident, {len(plan.groups)} groups")
    return {
        "layer": name, "mapping": mapping, "terms": ops["terms"], "adds_naive": ops["add_naive"],
        "adds": ops["add"], "temporaries": ops["temporaries"], "maxima": ops["max"],
        **{k: stats[k] for k in ("searches", "writes", "shifts", "cycles")},
        **activation_words(compiled.code), "program_words": len(compiled.program.words),
    }


def format_report(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.rjust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(str(r[c]).rjust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(lines)
