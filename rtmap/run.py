"""Run one layer on a backend: the golden model, the instruction simulator, or the RTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import host
from .compiler.pipeline import CompiledLayer, compile_layer
from .errors import RtmapError
from .isa import COUNTERS, ErrorCode
from .params import MachineParams
from .sim.golden import output_dtype
from .sim.golden import run_layer as golden_layer
from .sim.layer import Layer, check_input

BACKENDS = ("golden", "sim", "rtl")


@dataclass
class RunOutcome:
    """What one run of a program on a machine returned (per run of ``active_rows`` rows)."""

    outputs: list[int]
    counters: dict[str, int]
    error: ErrorCode = ErrorCode.NONE
    pc: int = 0
    clock_cycles: int | None = None  # RTL only: measured by the bench, not read from a counter


@dataclass
class LayerResult:
    output: np.ndarray
    stats: dict = field(default_factory=dict)


def run_layer(layer: Layer, x: np.ndarray, backend: str = "golden",
              params: MachineParams | None = None, build_dir: Path | None = None,
              simulator: str = "verilator") -> LayerResult:
    """The layer's output on ``backend`` (same dtype and shape as the golden model).

    ``simulator`` (verilator or icarus) and ``build_dir`` apply to the rtl backend.
    """
    if backend not in BACKENDS:
        raise RtmapError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    x = check_input(layer, x)
    if backend == "golden":
        return LayerResult(golden_layer(layer, x))
    params = params or MachineParams()
    fields = host.receptive_fields(layer, x)
    compiled = compile_layer(layer, params, active_rows=min(params.rows, len(fields)))
    runs = host.split_runs(fields, compiled.plan.active_rows)
    streams = [host.input_words(compiled.plan, run) for run in runs]
    if backend == "sim":
        outcomes = execute_on_simulator(compiled, streams)
    else:
        from .sim.rtl import execute_on_rtl  # imports cocotb only when asked for

        outcomes = execute_on_rtl(compiled, streams, build_dir=build_dir, simulator=simulator)
    per_position = []
    for outcome in outcomes:
        if outcome.error is not ErrorCode.NONE:
            raise RtmapError(f"{backend}: program stopped with {outcome.error.name} at pc "
                             f"{outcome.pc}")
        per_position.append(host.decode_outputs(compiled.plan, outcome.outputs, params.tracks))
    values = np.concatenate(per_position)[:len(fields)]
    output = host.arrange_outputs(layer, x, values.astype(output_dtype(layer)))
    return LayerResult(output, run_stats(compiled, outcomes, len(fields)))


def execute_on_simulator(compiled: CompiledLayer, streams: list[list[int]]) -> list[RunOutcome]:
    from .sim.machine import Machine

    machine = Machine(compiled.program.params)
    outcomes = []
    for stream in streams:
        result = machine.run(compiled.program.words, stream)
        outcomes.append(RunOutcome(result.outputs, result.counters, result.error, result.pc))
    return outcomes


def run_stats(compiled: CompiledLayer, outcomes: list[RunOutcome], positions: int) -> dict:
    """Counters summed over runs, plus what the run was."""
    stats: dict = {name: sum(o.counters[name] for o in outcomes) for name in COUNTERS}
    if all(o.clock_cycles is not None for o in outcomes):
        stats["clock_cycles"] = sum(o.clock_cycles for o in outcomes)
    stats.update({
        "runs": len(outcomes),
        "active_rows": compiled.plan.active_rows,
        "positions": positions,
        "program_words": len(compiled.program.words),
        "ops": compiled.program.meta["ops"],
        "params": compiled.program.params.as_dict(),
    })
    return stats
