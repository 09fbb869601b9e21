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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler.analysis import activation_words, column_activity, program_counts
from ..compiler.bitwidth import accumulator_bits
from ..compiler.fold import fold_weights
from ..compiler.networks import random_layer_for
from ..compiler.pipeline import compile_layer
from ..errors import RtmapError
from ..params import MachineParams
from .layer import Layer

DEFAULT_COSTS = Path(__file__).with_name("energy_costs.toml")
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
              technology: str = "rtm_ap") -> dict[str, float]:
    """Energy by category (J) and ``latency_s`` of the program on an associative processor
    of ``params`` rows and tracks: every row compares every searched column and precharges
    its match line, the tagged rows (``write_activity`` of them) write, a port shift moves
    every track of every row one domain (none on the SRAM AP, whose domains are columns),
    and each I/O word moves ``tracks`` bits."""
    cost = costs.values[technology]
    rows, tracks = params.rows, params.tracks
    shifts = "shift_per_domain_track" in cost  # else a domain is a column: no shift cycles
    cycles = counts.cycles - (0 if shifts else counts.shifts * params.shift_latency)
    latency = cycles * cost["clock_period"]
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
        cells = rows * tracks * params.domains
        energy["leakage"] = latency * cells * cost["leakage_per_bit"]
    return {**energy, "total": sum(energy.values()), "latency_s": latency}


def crossbar_energy(layer: Layer, positions: int, costs: Costs,
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
                   seed: int = 0, jobs: int = 1) -> dict:
    """Energy and latency of one inference (batch 1) through ``shapes`` (LayerShapes of
    compiler/networks.py) with random 40%-zero ternary weights: every conv and add
    requantises in the array to ``levels`` levels, except the last layer, which returns raw
    sums. Each shape is compiled once and counted ``repeat`` times. ``jobs``: compile in
    that many processes."""
    shapes = list(shapes)
    tasks = [(shape, params, levels if shape.kind != "maxpool" and index < len(shapes) - 1
              else None, seed + index) for index, shape in enumerate(shapes)]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            counted = list(pool.map(_count_shape, *zip(*tasks, strict=True)))
    else:
        counted = [_count_shape(*task) for task in tasks]
    layers = []
    for shape, (layer, counts, out_bits) in zip(shapes, counted, strict=True):
        rtm = ap_energy(counts, params, costs)
        layers.append({
            "name": shape.name, "kind": shape.kind, "repeat": shape.repeat,
            "positions": shape.positions, "runs": counts.runs, "cycles": counts.cycles,
            "searches": counts.searches, "writes": counts.writes, "shifts": counts.shifts,
            "io_words": counts.io_words, "ops": counts.adds,
            "energy_j": {k: v for k, v in rtm.items() if k != "latency_s"},
            "latency_s": rtm["latency_s"],
            "sram_ap": ap_energy(counts, params, costs, "sram_ap"),
            "crossbar": crossbar_energy(layer, shape.positions, costs, out_bits),
        })

    def total(pick) -> float:
        return sum(pick(layer) * layer["repeat"] for layer in layers)

    energy = total(lambda layer: layer["energy_j"]["total"])
    movement = total(lambda layer: layer["energy_j"]["movement"])
    return {
        "params": params.as_dict(), "costs": costs.path, "layers": layers,
        "energy_per_inference_j": energy,
        "latency_s": total(lambda layer: layer["latency_s"]),
        "sram_ap_energy_j": total(lambda layer: layer["sram_ap"]["total"]),
        "crossbar_energy_j": total(lambda layer: layer["crossbar"]["total"]),
        "ratio_vs_sram_ap": total(lambda layer: layer["sram_ap"]["total"]) / energy,
        "ratio_vs_crossbar": total(lambda layer: layer["crossbar"]["total"]) / energy,
        "activation_movement_share": movement / energy,
    }


def _count_shape(shape, params: MachineParams, levels: int | None, seed: int):
    """The layer drawn for ``shape``, its counts, and the bits each of its outputs has."""
    layer = random_layer_for(shape, np.random.default_rng(seed), levels=levels)
    counts = ap_counts(layer, params, shape.positions)
    if layer.kind == "maxpool":
        out_bits = layer.in_bits
    elif layer.thresholds is not None:
        out_bits = max(1, layer.thresholds.shape[1].bit_length())
    else:
        out_bits = max(accumulator_bits(s, layer.in_bits) for s in fold_weights(layer))
    return layer, counts, out_bits
