"""Run one layer on a backend: the golden model, the instruction simulator, or the RTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import host
from .compiler.analysis import activation_words
from .compiler.pipeline import CompiledLayer, compile_layer
from .errors import RtmapError
from .isa import COUNTERS, ErrorCode
from .params import MachineParams
from .sim.golden import output_dtype
from .sim.golden import run_layer as golden_layer
from .sim.layer import Layer, check_input
from .sim.network import INPUT, Network, check_network_input

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


@dataclass
class NetworkResult:
    output: np.ndarray
    stats: dict = field(default_factory=dict)


def run_network(network: Network, x: np.ndarray, backend: str = "golden",
                params: MachineParams | None = None, build_dir: Path | None = None,
                simulator: str = "verilator") -> NetworkResult:
    """The network's output for ``x`` (one image or a batch; the output is batched alike),
    each layer run on ``backend`` with the whole batch at once. The stats list every layer's
    counters (none on the golden model) and the activation words moved in and out."""
    if backend not in BACKENDS:
        raise RtmapError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    single = np.shape(x) == network.input_shape
    batch = check_network_input(network, x)
    outputs = {INPUT: batch}
    current = batch
    layers = []
    for step in network.steps:
        if step.kind == "flatten":
            current = current.reshape(len(current), -1)
            layers.append({"name": step.name, "kind": step.kind})
        else:
            operand = current
            if step.kind == "add":
                operand = np.concatenate([current, outputs[step.source]], axis=1)
            result = run_layer(step.layer, operand, backend, params, build_dir, simulator)
            current = result.output
            layers.append({"name": step.name, "kind": step.kind, **_layer_totals(result.stats)})
        outputs[step.name] = current
    stats = {"backend": backend, "images": len(batch), "layers": layers}
    if backend != "golden":
        stats.update({key: sum(layer.get(key, 0) for layer in layers)
                      for key in (*COUNTERS, "clock_cycles", "words_in", "words_out")
                      if any(key in layer for layer in layers)})
        stats["params"] = (params or MachineParams()).as_dict()
    return NetworkResult(current[0] if single else current, stats)


def _layer_totals(stats: dict) -> dict:
    keep = (*COUNTERS, "clock_cycles", "words_in", "words_out", "runs", "active_rows",
            "program_words")
    return {key: stats[key] for key in keep if key in stats}


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
    moved = activation_words(compiled.code)  # per run, from the program
    stats.update({key: value * len(outcomes) for key, value in moved.items()})
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
