"""Analyses of a lowered program, as pure functions returning dicts that reports read.

Programs have no data-dependent control flow (loops are counted), so every counter the
simulator and the hardware keep is known exactly before the program runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..isa import COUNTERS, Instr, Opcode, arith_columns, arith_counter_values, cycles_of
from ..params import MachineParams
from .ir import ChannelSum


def executions(code: Sequence[Instr]) -> Iterator[tuple[Instr, int]]:
    """Each instruction of ``code`` with the times one run executes it (loops multiplied
    out; a LOOP runs once per entry, its ENDL once per iteration)."""
    times = [1]  # executions of the current loop body, innermost last
    for instr in code:
        if instr.op is Opcode.LOOP:
            yield instr, times[-1]
            times.append(times[-1] * instr.count)
        elif instr.op is Opcode.ENDL:
            yield instr, times.pop()
        else:
            yield instr, times[-1]


def program_counts(code: Sequence[Instr], params: MachineParams) -> dict[str, int]:
    """The counters of one run of ``code`` (assumed well formed: loops closed, ends in halt)."""
    arith = [0] * len(COUNTERS)  # the commonest instruction's counters, summed apart
    seen: dict[tuple[int, int, int], tuple[int, ...]] = {}  # its counters by shape
    counts = dict.fromkeys(COUNTERS, 0)
    for instr, n in executions(code):
        if instr.op is Opcode.ARITH:
            key = (instr.mode._value_, instr.bits, instr.width)  # enums hash slowly
            if key not in seen:
                seen[key] = arith_counter_values(instr, params)
            for index, value in enumerate(seen[key]):
                arith[index] += n * value
            continue
        counts["cycles"] += n * cycles_of(instr, params)
        if instr.op is Opcode.SEARCH:
            counts["searches"] += n
        elif instr.op is Opcode.WRITE:
            counts["writes"] += n
        elif instr.op is Opcode.SHIFT:
            counts["shifts"] += n * instr.count
        elif instr.op in (Opcode.LOAD, Opcode.READ, Opcode.TQUERY):
            counts["io_words"] += n
    return {name: counts[name] + extra for name, extra in zip(COUNTERS, arith, strict=True)}


def column_activity(code: Sequence[Instr]) -> dict[str, int]:
    """Columns compared by searches and written by writes in one run (loops multiplied out,
    an ARITH's micro steps included): ``searched_columns``, ``written_columns``. Every row
    compares every searched column, and the tagged rows write each written one, so these
    are what search and write energy scale with."""
    activity = {"searched_columns": 0, "written_columns": 0}
    for instr, n in executions(code):
        if instr.op is Opcode.SEARCH:
            activity["searched_columns"] += n * len(instr.slots)
        elif instr.op is Opcode.WRITE:
            activity["written_columns"] += n * len(instr.slots)
        elif instr.op is Opcode.ARITH:
            searched, written = arith_columns(instr)
            activity["searched_columns"] += n * searched
            activity["written_columns"] += n * written
    return activity


def activation_words(code: Sequence[Instr]) -> dict[str, int]:
    """Words moved in (LOAD) and out (READ, TQUERY) by one run, loops multiplied out."""
    moved = {"words_in": 0, "words_out": 0}
    for instr, n in executions(code):
        if instr.op is Opcode.LOAD:
            moved["words_in"] += n
        elif instr.op in (Opcode.READ, Opcode.TQUERY):
            moved["words_out"] += n
    return moved


def naive_counts(sums: Sequence[ChannelSum], kind: str = "conv2d") -> dict[str, int]:
    """``add_naive``: two-operand adds/subtracts of the folded sums, n terms costing n - 1 (a
    copy or a negation is not an add); ``terms``: the non-zero weights (a max-pool's window
    inputs, which it compares instead of adding: no adds)."""
    naive = sum(max(len(s.terms) - 1, 0) for s in sums)
    return {"add_naive": 0 if kind == "maxpool" else naive,
            "terms": sum(len(s.terms) for s in sums)}
