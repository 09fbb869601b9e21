"""The analytical energy and latency model (issue #6): what a compiled layer costs in silicon
on the RTM-CAM associative processor, on a CMOS SRAM-CAM associative processor running the
same program, and on an ADC-based ReRAM crossbar accelerator.

Counts come from the compiler (``compiler/analysis.py``: the simulator's counters exactly,
plus the columns searches compare and writes change); costs from one parameter file
(``energy_costs.toml``, every entry with its unit and source). Energies are in joules,
latencies in seconds, by category so that a report can show where the energy goes.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..compiler.analysis import activation_words, column_activity, program_counts
from ..compiler.bitwidth import accumulator_bits, count_bits
from ..compiler.fold import fold_weights
from ..compiler.networks import random_layer_for
from ..compiler.pipeline import compile_layer
from ..errors import RtmapError
from ..params import MachineParams
from .layer import Layer

DEFAULT_COSTS = Path(__file__).with_name("energy_costs.toml")
# Ternary weights that are zero in a trained TWN: Li et al.'s TWN threshold 0.7 E|w| zeroes
# about 40% of Gaussian-like weights (the fraction a user can change with --zero-fraction).
ZERO_FRACTION = 0.4
PAPER_RATIO_VS_CROSSBAR = 7.5  # de Lima et al., DATE 2024: ResNet-18 energy efficiency
MAX_COMPILE_WEIGHTS = 4_000_000  # wider linear layers are counted in slices (_slices)
UNITS = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "J": 1.0, "fW": 1e-15, "mW": 1e-3, "W": 1.0,
         "ns": 1e-9, "s": 1.0, "1": 1.0}
REQUIRED = {
    "rtm_ap": ("clock_period", "search_per_column_row", "match_line_per_row",
               "write_per_column_row", "write_activity", "shift_per_domain_track",
               "io_per_bit", "controller_power"),
    "sram_ap": ("clock_period", "search_per_column_row", "match_line_per_row",
                "write_per_column_row", "write_activity", "leakage_per_bit", "io_per_bit",
                "controller_power"),
    "crossbar": ("size", "cycle", "adc_per_conversion", "dac_per_row", "array_per_cell",
                 "shift_add_per_conversion", "cells_per_weight", "io_per_bit"),
}


@dataclass(frozen=True)
class Costs:
    """Per-operation costs in SI units (``values[technology][name]``), and their sources."""

    values: dict[str, dict[str, float]]
    sources: dict[str, dict[str, str]]
    path: str

    def __call__(self, technology: str, name: str) -> float:
        return self.values[technology][name]


def load_costs(path=None) -> Costs:
    """Read and check a cost file; every problem is one line naming the file and entry."""
    path = Path(path) if path is not None else DEFAULT_COSTS
    where = path.name
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise RtmapError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RtmapError(f"{where}: not a readable TOML cost file ({exc})") from None
    values: dict[str, dict[str, float]] = {}
    sources: dict[str, dict[str, str]] = {}
    for technology, names in REQUIRED.items():
        table = data.get(technology)
        if not isinstance(table, dict):
            raise RtmapError(f"{where}: missing table [{technology}]")
        values[technology], sources[technology] = {}, {}
        for name in names:
            entry = table.get(name)
            if not isinstance(entry, dict) or not {"value", "unit", "source"} <= set(entry):
                raise RtmapError(f"{where}: [{technology}] {name} must be "
                                 "{value = ..., unit = ..., source = ...}")
            value, unit = entry["value"], entry["unit"]
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value < 0:
                raise RtmapError(f"{where}: [{technology}] {name} value {value!r} is not a "
                                 "non-negative number")
            if unit not in UNITS:
                raise RtmapError(f"{where}: [{technology}] {name} unit {unit!r} is not one of "
                                 f"{', '.join(UNITS)}")
            if not str(entry["source"]).strip():
                raise RtmapError(f"{where}: [{technology}] {name} has an empty source")
            values[technology][name] = float(value) * UNITS[unit]
            sources[technology][name] = str(entry["source"])
    return Costs(values, sources, str(path))


class LayerDims(NamedTuple):
    """What the crossbar model needs of a layer: its shape, not its weights."""

    kind: str
    kernel: tuple[int, int]
    in_channels: int
    out_channels: int
    in_bits: int


@dataclass(frozen=True)
class ApCounts:
    """What a layer does on the associative processor, summed over every run it needs."""

    runs: int
    cycles: int
    searches: int
    writes: int
    shifts: int
    io_words: int
    words_in: int
    words_out: int
    searched_columns: int
    written_columns: int
    adds: int


def ap_counts(layer: Layer, params: MachineParams, positions: int) -> ApCounts:
    """Compile ``layer`` for ``params`` and count ``positions`` output positions (runs of
    ``rows`` at a time, the last one padded as the host pads it)."""
    if positions < 1:
        raise RtmapError(f"positions must be at least 1, got {positions}")
    active = min(params.rows, positions)
    compiled = compile_layer(layer, params, active_rows=active)
    runs = math.ceil(positions / active)
    per_run = {**program_counts(compiled.code, params), **activation_words(compiled.code),
               **column_activity(compiled.code)}
    ops = compiled.program.meta["ops"]
    return ApCounts(runs=runs, adds=(ops["add"] + ops["max"]) * runs,
                    **{name: value * runs for name, value in per_run.items()})


def ap_energy(counts: ApCounts, params: MachineParams, costs: Costs,
              technology: str = "rtm_ap", arrays: int = 1) -> dict[str, float]:
    """Energy by category (J) and ``latency_s`` of the program on an associative processor
    of ``arrays`` arrays of ``params`` rows and tracks, sharing one sequencer: each run goes
    to an array, ``arrays`` runs at a time. In a run every row compares every searched column
    and precharges its match line, the tagged rows (``write_activity`` of them) write, a port
    shift moves every track of every row one domain (none on the SRAM AP, whose domains are
    columns), and each I/O word moves ``tracks`` bits. An idle array costs nothing on the
    RTM-AP (racetracks are non-volatile: it is powered off) but leaks on the SRAM AP."""
    if arrays < 1:
        raise RtmapError(f"arrays must be at least 1, got {arrays}")
    cost = costs.values[technology]
    rows, tracks = params.rows, params.tracks
    shifts = "shift_per_domain_track" in cost  # else a domain is a column: no shift cycles
    cycles = counts.cycles - (0 if shifts else counts.shifts * params.shift_latency)
    latency = cycles // counts.runs * math.ceil(counts.runs / arrays) * cost["clock_period"]
    energy = {
        "search": rows * (counts.searched_columns * cost["search_per_column_row"]
                          + counts.searches * cost["match_line_per_row"]),
        "write": rows * cost["write_activity"] * counts.written_columns
        * cost["write_per_column_row"],
        "shift": counts.shifts * rows * tracks * cost["shift_per_domain_track"] if shifts else 0.0,
        "movement": counts.io_words * tracks * cost["io_per_bit"],
        "control": latency * cost["controller_power"],
    }
    if "leakage_per_bit" in cost:
        cells = arrays * rows * tracks * params.domains
        energy["leakage"] = latency * cells * cost["leakage_per_bit"]
    return {**energy, "total": sum(energy.values()), "latency_s": latency}


def crossbar_energy(layer: Layer | LayerDims, positions: int, costs: Costs,
                    out_bits: int) -> dict[str, float]:
    """Energy by category (J) and ``latency_s`` of ``layer`` on a weight-stationary crossbar
    accelerator: its weights spread over size x size crossbars (``cells_per_weight`` columns
    a weight), inputs applied bit-serially (``in_bits`` crossbar cycles a position, every
    crossbar at once), every column converted by an ADC each cycle, then shifted and added.
    A max-pool or an add has no weights: only its activations move."""
    cost = costs.values["crossbar"]
    size = int(cost["size"])
    kh, kw = layer.kernel
    moved = positions * (layer.in_channels * kh * kw * layer.in_bits
                         + layer.out_channels * out_bits)
    energy = {"adc": 0.0, "dac": 0.0, "array": 0.0, "shift_add": 0.0,
              "movement": moved * cost["io_per_bit"]}
    latency = 0.0
    if layer.kind in ("conv2d", "linear"):
        rows = layer.in_channels * kh * kw
        columns = layer.out_channels * int(cost["cells_per_weight"])
        crossbars = math.ceil(rows / size) * math.ceil(columns / size)
        activations = crossbars * layer.in_bits * positions
        energy["adc"] = activations * size * cost["adc_per_conversion"]
        energy["dac"] = activations * size * cost["dac_per_row"]
        energy["array"] = activations * size * size * cost["array_per_cell"]
        energy["shift_add"] = activations * size * cost["shift_add_per_conversion"]
        latency = positions * layer.in_bits * cost["cycle"]
    return {**energy, "total": sum(energy.values()), "latency_s": latency}


def network_energy(shapes, params: MachineParams, costs: Costs, *, levels: int = 15,
                   zero_fraction: float = ZERO_FRACTION, arrays: int | None = None,
                   seed: int = 0, jobs: int = 1, layers=None) -> dict:
    """Energy and latency of one inference (batch 1) through ``shapes`` (LayerShapes of
    compiler/networks.py) with random ternary weights (``zero_fraction`` of them zero): every
    layer but a max-pool requantises in the array to ``levels`` levels, except the last
    layer, which returns raw sums. Each shape is compiled once and counted ``repeat`` times.
    ``arrays``: arrays of ``params`` on the chip (default: as many as the layer with the
    most output positions needs, so that every layer runs in one pass of its program).
    ``jobs``: compile in that many processes. ``layers``: the real layers of a network file,
    one per shape, counted instead of random ones (``levels`` and ``zero_fraction`` are then
    theirs)."""
    shapes = list(shapes)
    tasks = layer_tasks(shapes, params, levels=levels, zero_fraction=zero_fraction, seed=seed,
                        layers=layers)
    counted = count_layers(tasks, jobs)
    for result in counted:
        if isinstance(result, str):
            raise RtmapError(result)
    return summarise(shapes, counted, params, costs, zero_fraction, arrays)


def layer_tasks(shapes, params: MachineParams, *, levels: int = 15,
                zero_fraction: float = ZERO_FRACTION, seed: int = 0, layers=None) -> list:
    """One (shape, params, levels, zero_fraction, seed, layer) per shape: what
    ``count_layers`` counts. ``layer`` is the given real layer, or None to draw one."""
    shapes = list(shapes)
    layers = list(layers) if layers is not None else [None] * len(shapes)
    return [(shape, params, levels if shape.kind != "maxpool" and index < len(shapes) - 1
             else None, zero_fraction, seed + index, layer)
            for index, (shape, layer) in enumerate(zip(shapes, layers, strict=True))]


def count_layers(tasks: list, jobs: int = 1) -> list:
    """``(dims, counts, out_bits)`` of every ``layer_tasks`` task, in ``jobs`` processes; a
    task the machine cannot run (e.g. too few tracks for its sums) gives its one-line error
    message instead. Each slice of a wide linear layer is a task of its own, so that VGG-16's
    fc6 spreads over the processes."""
    pieces = [(number, part, params, levels, zero_fraction,
               seed if len(parts) == 1 else (seed, index), layer)
              for number, (shape, params, levels, zero_fraction, seed, layer) in enumerate(tasks)
              for parts in [[shape] if layer is not None else _slices(shape)]
              for index, part in enumerate(parts)]
    if jobs > 1 and len(pieces) > 1:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        try:
            with ProcessPoolExecutor(min(jobs, len(pieces))) as pool:
                counted = list(pool.map(_count_slice_or_error, *zip(*pieces, strict=True)))
        except BrokenProcessPool:
            raise RtmapError(f"a compiling process died, probably out of memory: try fewer "
                             f"--jobs than {jobs}") from None
    else:
        counted = [_count_slice_or_error(*piece) for piece in pieces]
    owners = [piece[0] for piece in pieces]
    return [_join_slices(shape, [result for owner, result in zip(owners, counted, strict=True)
                                 if owner == number])
            for number, (shape, *_) in enumerate(tasks)]


def summarise(shapes, counted, params: MachineParams, costs: Costs,
              zero_fraction: float = ZERO_FRACTION, arrays: int | None = None) -> dict:
    """The report of ``network_energy`` from the shapes and their ``count_layers`` results."""
    if arrays is None:
        arrays = max(counts.runs for _, counts, _ in counted)
    layers = []
    for shape, (layer, counts, out_bits) in zip(shapes, counted, strict=True):
        rtm = ap_energy(counts, params, costs, arrays=arrays)
        layers.append({
            "name": shape.name, "kind": shape.kind, "repeat": shape.repeat,
            "positions": shape.positions, "runs": counts.runs, "cycles": counts.cycles,
            "searches": counts.searches, "writes": counts.writes, "shifts": counts.shifts,
            "io_words": counts.io_words, "ops": counts.adds,
            "energy_j": {k: v for k, v in rtm.items() if k != "latency_s"},
            "latency_s": rtm["latency_s"],
            "sram_ap": ap_energy(counts, params, costs, "sram_ap", arrays),
            "crossbar": crossbar_energy(layer, shape.positions, costs, out_bits),
        })

    def total(pick) -> float:
        return sum(pick(layer) * layer["repeat"] for layer in layers)

    energy = total(lambda layer: layer["energy_j"]["total"])
    movement = total(lambda layer: layer["energy_j"]["movement"])
    crossbar = total(lambda layer: layer["crossbar"]["total"])
    sram_ap = total(lambda layer: layer["sram_ap"]["total"])
    shift = total(lambda layer: layer["energy_j"]["shift"])
    # The shift energy is the least known cost and usually the largest one: what value of it
    # would make the RTM-AP match the crossbar, or beat it by the paper's 7.5x?
    shifted = total(lambda layer: layer["shifts"]) * params.rows * params.tracks
    rest = energy - shift

    def shift_cost_for(ratio: float) -> float | None:
        spare = crossbar / ratio - rest
        return spare / shifted if spare > 0 and shifted else None

    return {
        "params": params.as_dict(), "arrays": arrays, "costs": costs.path,
        "zero_fraction": zero_fraction,
        "layers": layers,
        "energy_per_inference_j": energy,
        "latency_s": total(lambda layer: layer["latency_s"]),
        "sram_ap_energy_j": sram_ap,
        "crossbar_energy_j": crossbar,
        "sram_ap_latency_s": total(lambda layer: layer["sram_ap"]["latency_s"]),
        "crossbar_latency_s": total(lambda layer: layer["crossbar"]["latency_s"]),
        "ratio_vs_sram_ap": sram_ap / energy,
        "ratio_vs_crossbar": crossbar / energy,
        "activation_movement_share": movement / energy,
        "shift_share": shift / energy,
        "shift_per_domain_track_j": costs("rtm_ap", "shift_per_domain_track"),
        "shifted_track_domains": shifted,
        "shift_cost_for_crossbar_parity_j": shift_cost_for(1.0),
        "shift_cost_for_paper_ratio_j": shift_cost_for(PAPER_RATIO_VS_CROSSBAR),
    }


def _slices(shape) -> list:
    """``shape`` itself, or for a linear layer wider than ``MAX_COMPILE_WEIGHTS`` (VGG-16's fc6
    has 103 M weights, too many to compile at once in memory) slices of its output channels,
    counted as run one after another. Slices share no subexpressions, so this overestimates
    our adds a little."""
    if shape.kind != "linear" or shape.weights <= MAX_COMPILE_WEIGHTS:
        return [shape]
    width = max(1, MAX_COMPILE_WEIGHTS // shape.in_channels)
    return [replace(shape, out_channels=min(width, shape.out_channels - start))
            for start in range(0, shape.out_channels, width)]


def _count_slice_or_error(number, part, params, levels, zero_fraction, seed, layer=None):
    """The ``LayerDims`` of ``layer`` or of the layer drawn for the slice ``part`` of task
    ``number``'s shape, its counts, and the bits each of its outputs has; or the one-line
    reason the machine cannot run it."""
    try:
        if layer is None:
            layer = random_layer_for(part, np.random.default_rng(seed),
                                     zero_fraction=zero_fraction, levels=levels)
        dims = LayerDims(layer.kind, layer.kernel, layer.in_channels, layer.out_channels,
                         layer.in_bits)
        return dims, ap_counts(layer, params, part.positions), _out_bits(layer)
    except RtmapError as exc:
        return f"{part.name}: {exc}"


def _join_slices(shape, counted: list):
    """One shape's ``LayerDims``, counts summed over its slices, and widest output; or the
    first slice's error."""
    problem = next((result for result in counted if isinstance(result, str)), None)
    if problem:
        return problem
    counts = [result[1] for result in counted]
    total = ApCounts(**{field: counts[0].runs if field == "runs" else
                        sum(getattr(c, field) for c in counts)
                        for field in ApCounts.__annotations__})
    dims = counted[0][0]._replace(out_channels=shape.out_channels)
    return dims, total, max(result[2] for result in counted)


def _out_bits(layer: Layer) -> int:
    if layer.kind == "maxpool":
        return layer.in_bits
    if layer.thresholds is not None:
        return count_bits(layer.thresholds.shape[1])
    return max(accumulator_bits(s, layer.in_bits) for s in fold_weights(layer))
