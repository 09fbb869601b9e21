"""Run one layer on a backend: the golden model, the instruction simulator, or the RTL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import host
from .compiler.analysis import activation_words
from .compiler.pipeline import CompiledLayer, chain_kinds_fit, compile_chain, compile_layer
from .errors import RtmapError
from .isa import COUNTERS, ErrorCode
from .params import MachineParams
from .sim.golden import output_dtype
from .sim.golden import run_layer as golden_layer
from .sim.layer import Layer, check_input, output_shape
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
class BackendResult:
    """A layer's or a network's output on a backend, and its programs' counters."""

    output: np.ndarray
    stats: dict = field(default_factory=dict)


def run_layer(layer: Layer, x: np.ndarray, backend: str = "golden",
              params: MachineParams | None = None, build_dir: Path | None = None,
              simulator: str = "verilator", link=None) -> BackendResult:
    """The layer's output on ``backend`` (same dtype and shape as the golden model).

    ``simulator`` (verilator or icarus) and ``build_dir`` apply to the rtl backend; ``link``
    (a :class:`rtmap.fpga.LinkClient`) is the board of the fpga backend, whose machine
    parameters it reports.
    """
    if backend not in (*BACKENDS, "fpga"):
        raise RtmapError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    x = check_input(layer, x)
    if backend == "golden":
        return BackendResult(golden_layer(layer, x))
    if backend == "fpga":
        params = link.params or link.connect()
    params = params or MachineParams()
    fields = host.receptive_fields(layer, x)
    compiled = compile_layer(layer, params, active_rows=min(params.rows, len(fields)))
    values, stats = run_compiled(compiled, fields, backend, build_dir, simulator, link)
    output = host.arrange_outputs(layer, x, values.astype(output_dtype(layer)))
    return BackendResult(output, stats)


def run_compiled(compiled: CompiledLayer, fields: np.ndarray, backend: str,
                 build_dir: Path | None = None, simulator: str = "verilator", link=None):
    """(positions x output channels, stats) of ``compiled`` run on the receptive ``fields``
    (one per output position), ``active_rows`` positions a run, on ``sim``, ``rtl`` or
    ``fpga`` (through ``link``)."""
    runs = host.split_runs(fields, compiled.plan.active_rows)
    streams = [host.input_words(compiled.plan, run) for run in runs]
    if backend == "sim":
        outcomes = execute_on_simulator(compiled, streams)
    elif backend == "fpga":
        from .fpga import execute_on_link

        outcomes = execute_on_link(compiled, streams, link)
    else:
        from .sim.rtl import execute_on_rtl  # imports cocotb only when asked for

        outcomes = execute_on_rtl(compiled, streams, build_dir=build_dir, simulator=simulator)
    per_position = []
    tracks = compiled.program.params.tracks
    for outcome in outcomes:
        if outcome.error is not ErrorCode.NONE:
            raise RtmapError(f"{backend}: program stopped with {outcome.error.name} at pc "
                             f"{outcome.pc}")
        per_position.append(host.decode_outputs(compiled.output_plan, outcome.outputs, tracks))
    values = np.concatenate(per_position)[:len(fields)]
    return values, run_stats(compiled, outcomes, len(fields))


def run_network(network: Network, x: np.ndarray, backend: str = "golden",
                params: MachineParams | None = None, build_dir: Path | None = None,
                simulator: str = "verilator", chain: bool = True) -> BackendResult:
    """The network's output for ``x`` (one image or a batch; the output is batched alike),
    each layer run on ``backend`` with the whole batch at once. With ``chain``, a layer whose
    outputs the next layer can take where they are (see ``compile_chain``) runs with it as
    one program, and those activations never leave the array. The stats list every program's
    counters (none on the golden model), the activation words moved in and out, and for a
    layer that could not keep its outputs in the array, why (``not_chained``)."""
    if backend not in BACKENDS:
        raise RtmapError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    params = params or MachineParams()
    single = np.shape(x) == network.input_shape
    batch = check_network_input(network, x)
    outputs = {INPUT: batch}
    kept_on_host = {step.source for step in network.steps if step.kind == "add"}
    steps = list(network.steps)
    current = batch
    layers = []
    while steps:
        step = steps.pop(0)
        if step.kind == "flatten":
            current = current.reshape(len(current), -1)
            outputs[step.name] = current
            layers.append({"name": step.name, "kind": step.kind})
            continue
        operand = current
        if step.kind == "add":
            operand = np.concatenate([current, outputs[step.source]], axis=1)
        following = steps[0] if steps else None
        entry = {"name": step.name, "kind": step.kind}
        if (chain and backend != "golden" and following is not None
                and following.layer is not None
                and chain_kinds_fit(step.layer, following.layer)):
            if step.name in kept_on_host:
                entry["not_chained"] = "a residual add takes them later"
            else:
                ran = _run_chain(step.layer, following.layer, operand, params, backend,
                                 build_dir, simulator)
                if isinstance(ran, str):
                    entry["not_chained"] = ran
                else:
                    current = outputs[following.name] = ran.output
                    steps.pop(0)
                    layers.append({"name": f"{step.name}+{following.name}",
                                   "kind": f"{step.kind}+{following.kind}",
                                   "chain": [step.name, following.name],
                                   **_layer_totals(ran.stats)})
                    continue
        try:
            result = run_layer(step.layer, operand, backend, params, build_dir, simulator)
        except RtmapError as exc:  # e.g. the machine is too small for this layer
            raise RtmapError(f"{network.source}: layer {step.name!r}: {exc}") from None
        current = outputs[step.name] = result.output
        layers.append({**entry, **_layer_totals(result.stats)})
    stats = {"backend": backend, "images": len(batch), "layers": layers}
    if backend != "golden":
        stats.update({key: sum(layer.get(key, 0) for layer in layers)
                      for key in (*COUNTERS, "clock_cycles", "words_in", "words_out")
                      if any(key in layer for layer in layers)})
        stats["params"] = params.as_dict()
    return BackendResult(current[0] if single else current, stats)


def _run_chain(producer: Layer, consumer: Layer, x: np.ndarray, params: MachineParams,
               backend: str, build_dir: Path | None, simulator: str) -> BackendResult | str:
    """``consumer(producer(x))`` as one program (``compile_chain``), or why not."""
    x = check_input(producer, x)
    fields = host.receptive_fields(producer, x)
    try:
        compiled = compile_chain(producer, consumer, params, min(params.rows, len(fields)))
    except RtmapError as exc:  # a layer the machine cannot map: run_layer says so
        return str(exc)
    if isinstance(compiled, str):
        return compiled
    values, stats = run_compiled(compiled, fields, backend, build_dir, simulator)
    between = np.empty(output_shape(producer, x.shape), np.uint8)  # shape only
    output = host.arrange_outputs(consumer, between, values.astype(output_dtype(consumer)))
    return BackendResult(output, stats)


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
