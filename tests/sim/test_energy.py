"""The energy model: its cost file, its counts (equal to what the simulator executed), and
its arithmetic against hand-worked figures."""

import math
from dataclasses import replace

import numpy as np
import pytest

from rtmap import host
from rtmap.compiler.networks import LayerShape, random_layer_for
from rtmap.errors import RtmapError
from rtmap.params import MachineParams
from rtmap.sim.energy import (
    DEFAULT_COSTS,
    ap_counts,
    ap_energy,
    crossbar_energy,
    load_costs,
    network_energy,
)
from rtmap.sim.layer import Layer
from rtmap.sim.machine import Machine
from rtmap.sim.random_layer import random_input, random_layer

PARAMS = MachineParams(rows=5, tracks=24, domains=14, shift_latency=2, program_depth=1 << 14)


def test_the_shipped_costs_load_with_a_source_for_every_entry():
    costs = load_costs()
    assert costs.path == str(DEFAULT_COSTS)
    assert costs("rtm_ap", "shift_per_domain_track") == pytest.approx(40e-15)
    assert costs("crossbar", "cycle") == pytest.approx(100e-9)
    assert all(source.strip() for table in costs.sources.values() for source in table.values())


@pytest.mark.parametrize("text,message", [
    ("[rtm_ap]\n", "missing table [sram_ap]|rtm_ap\\] clock_period must be"),
    ("x = [", "not a readable TOML cost file"),
])
def test_bad_cost_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(RtmapError, match=message) as info:
        load_costs(path)
    assert "\n" not in str(info.value)


SHIFT_ENTRY = 'shift_per_domain_track = { value = 40.0, unit = "fJ", source = "derived'


@pytest.mark.parametrize("new,message", [
    ('shift_per_domain_track = { value = 40.0, unit = "fj", source = "derived',
     "shift_per_domain_track unit 'fj' is not one of"),
    ('shift_per_domain_track = { value = -40.0, unit = "fJ", source = "derived',
     "shift_per_domain_track value -40.0 is not a non-negative number"),
    ('shift_per_domain_track = { value = 40.0, unit = "fJ", source = " ", old = "derived',
     "shift_per_domain_track has an empty source"),
])
def test_bad_cost_entries_name_the_entry(tmp_path, new, message):
    text = DEFAULT_COSTS.read_text()
    assert text.count(SHIFT_ENTRY) == 1
    path = tmp_path / "c.toml"
    path.write_text(text.replace(SHIFT_ENTRY, new))
    with pytest.raises(RtmapError, match=message):
        load_costs(path)
    with pytest.raises(RtmapError, match="no such file"):
        load_costs(tmp_path / "missing.toml")


def simulated(layer, x, params):
    """Counters and column activity summed over the runs the simulator executes."""
    fields = host.receptive_fields(layer, x)
    counts = ap_counts(layer, params, len(fields))
    from rtmap.compiler.pipeline import compile_layer

    compiled = compile_layer(layer, params, active_rows=min(params.rows, len(fields)))
    machine = Machine(params)
    totals: dict[str, int] = {}
    runs = host.split_runs(fields, compiled.plan.active_rows)
    for run in runs:
        result = machine.run(compiled.program.words, host.input_words(compiled.plan, run))
        for name, value in {**result.counters, **result.activity}.items():
            totals[name] = totals.get(name, 0) + value
    return counts, totals, len(runs)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "maxpool", "add"])
def test_counts_are_what_the_simulator_executed(kind):
    rng = np.random.default_rng(len(kind))
    layer = random_layer(rng, kind=kind, out_channels=3, in_channels=2, kernel=(3, 3),
                         padding=1, thresholds_levels=None if kind == "maxpool" else 3)
    x = random_input(rng, layer, batch=7 if kind == "linear" else 2, height=3, width=4)
    counts, totals, runs = simulated(layer, x, PARAMS)
    assert counts.runs == runs > 1
    for name in ("cycles", "searches", "writes", "shifts", "io_words", "searched_columns",
                 "written_columns"):
        assert getattr(counts, name) == totals[name], name


def test_ap_energy_is_its_costs_times_the_simulated_counts():
    rng = np.random.default_rng(7)
    layer = random_layer(rng, kind="linear", out_channels=4, in_channels=6,
                         thresholds_levels=15)
    x = random_input(rng, layer, batch=12)
    counts, sim, _ = simulated(layer, x, PARAMS)
    costs = load_costs()
    rtm, sram = ap_energy(counts, PARAMS, costs), ap_energy(counts, PARAMS, costs, "sram_ap")
    r, t, d = PARAMS.rows, PARAMS.tracks, PARAMS.domains
    c = costs.values["rtm_ap"]
    assert rtm["latency_s"] == pytest.approx(sim["cycles"] * 1e-9)
    assert rtm["search"] == pytest.approx(r * (sim["searched_columns"] * 0.6e-15
                                               + sim["searches"] * 1e-15))
    assert rtm["write"] == pytest.approx(r * 0.5 * sim["written_columns"] * 50e-15)
    assert rtm["shift"] == pytest.approx(sim["shifts"] * r * t * 40e-15)
    assert rtm["movement"] == pytest.approx(sim["io_words"] * t * 0.08e-12)
    assert rtm["control"] == pytest.approx(sim["cycles"] * 1e-9 * 5e-3)
    assert rtm["total"] == pytest.approx(sum(v for k, v in rtm.items()
                                             if k not in ("total", "latency_s")))
    assert c["clock_period"] == pytest.approx(1e-9)
    # The SRAM AP runs the same program without shifts (a domain is a column), and leaks.
    sram_cycles = sim["cycles"] - sim["shifts"] * PARAMS.shift_latency
    assert sram["latency_s"] == pytest.approx(sram_cycles * 1e-9)
    assert sram["shift"] == 0 and sram["write"] == pytest.approx(rtm["write"] / 10)
    assert sram["leakage"] == pytest.approx(sram_cycles * 1e-9 * r * t * d * 50e-15)


def test_crossbar_energy_by_hand():
    # 200 inputs x 70 outputs, two cells a weight: 2 x 2 crossbars of 128 x 128; 4-bit inputs
    # take 4 cycles; 3 positions.
    layer = Layer("conv2d", np.ones((70, 8, 5, 5), np.int8), in_bits=4)
    energy = crossbar_energy(layer, positions=3, costs=load_costs(), out_bits=16)
    activations = 4 * 4 * 3
    assert energy["adc"] == pytest.approx(activations * 128 * 1.67e-12)
    assert energy["dac"] == pytest.approx(activations * 128 * 0.39e-12)
    assert energy["array"] == pytest.approx(activations * 128 * 128 * 1.83e-15)
    assert energy["shift_add"] == pytest.approx(activations * 128 * 0.2e-12)
    assert energy["movement"] == pytest.approx(3 * (200 * 4 + 70 * 16) * 0.08e-12)
    assert energy["latency_s"] == pytest.approx(3 * 4 * 100e-9)
    pool = Layer("maxpool", pool=(2, 2), channels=3, stride=2)
    moved = crossbar_energy(pool, positions=5, costs=load_costs(), out_bits=4)
    assert moved["total"] == moved["movement"] == pytest.approx(5 * (12 * 4 + 3 * 4) * 0.08e-12)
    assert math.isclose(moved["latency_s"], 0.0)


def test_network_totals_are_the_layers_times_their_repeats():
    shapes = [LayerShape("conv", "conv2d", 4, 3, 3, 1, 1, 4, 4, repeat=2),
              LayerShape("pool", "maxpool", 4, 4, 2, 2, 0, 4, 4),
              LayerShape("add", "add", 4, 8, 1, 1, 0, 2, 2, repeat=3),
              LayerShape("fc", "linear", 5, 16)]
    params = MachineParams(rows=8, tracks=40, domains=16, program_depth=1 << 14)
    costs = load_costs()
    report = network_energy(shapes, params, costs)
    layers = report["layers"]
    assert [layer["name"] for layer in layers] == ["conv", "pool", "add", "fc"]
    assert [layer["runs"] for layer in layers] == [2, 1, 1, 1]  # 16 positions on 8 rows
    repeats = [2, 1, 3, 1]

    def total(pick):
        return sum(r * pick(layer) for r, layer in zip(repeats, layers, strict=True))

    energy = total(lambda layer: layer["energy_j"]["total"])
    assert report["energy_per_inference_j"] == pytest.approx(energy)
    # Two arrays by default (conv needs two runs): they run at once, the latency is one run's.
    assert report["arrays"] == 2
    per_run = [layer["cycles"] // layer["runs"] for layer in layers]
    assert report["latency_s"] == pytest.approx(
        sum(r * c for r, c in zip(repeats, per_run, strict=True)) * 1e-9)
    one_array = network_energy(shapes, params, costs, arrays=1)
    # The same work, only the sequencer runs longer.
    assert one_array["energy_per_inference_j"] - energy == pytest.approx(
        (one_array["latency_s"] - report["latency_s"]) * 5e-3)
    assert one_array["latency_s"] == pytest.approx(total(lambda layer: layer["cycles"]) * 1e-9)
    # An idle SRAM array leaks; an idle racetrack array is off.
    fc_counts = ap_counts(random_layer_for(shapes[-1], np.random.default_rng(0)), params, 1)
    alone, among_three = (ap_energy(fc_counts, params, costs, technology, arrays)
                          for technology, arrays in (("sram_ap", 1), ("sram_ap", 3)))
    assert among_three["leakage"] == pytest.approx(3 * alone["leakage"])
    assert ap_energy(fc_counts, params, costs, arrays=3) == ap_energy(fc_counts, params, costs)
    assert report["ratio_vs_crossbar"] == pytest.approx(
        total(lambda layer: layer["crossbar"]["total"]) / energy)
    assert report["activation_movement_share"] == pytest.approx(
        total(lambda layer: layer["energy_j"]["movement"]) / energy)
    # The last layer returns raw sums (no thresholds): its crossbar outputs are wide.
    assert layers[-1]["crossbar"]["movement"] > layers[-1]["positions"] * 5 * 4 * 0.08e-12


def test_the_crossbar_costs_give_pumas_44_nj_for_its_16_bit_unit():
    """PUMA: a 128 x 128 unit does 16,384 16-bit MACs for about 44 nJ, as 8 crossbars of
    2-bit cells over 16 one-bit input cycles. Our crossbar model with 8 cells a weight gives
    that within 10%: one 8-bit pass of 128 inputs and 128 outputs, doubled for 16 bits."""
    costs = load_costs()
    values = {**costs.values, "crossbar": {**costs.values["crossbar"], "cells_per_weight": 8.0}}
    layer = random_layer(np.random.default_rng(0), kind="linear", out_channels=128,
                         in_channels=128, in_bits=8)
    energy = crossbar_energy(layer, 1, replace(costs, values=values), out_bits=16)
    computed = energy["total"] - energy["movement"]
    assert 2 * computed == pytest.approx(44e-9, rel=0.1)


def test_a_wide_linear_layer_is_counted_in_slices_of_output_channels(monkeypatch):
    from rtmap.sim import energy

    monkeypatch.setattr(energy, "MAX_COMPILE_WEIGHTS", 40)
    shape = LayerShape("fc", "linear", 7, 16)  # 112 weights: slices of 2, 2, 2 and 1 outputs
    params = MachineParams(rows=4, tracks=24, domains=16, program_depth=1 << 14)
    task = (shape, params, None, 0.4, 3, None)
    (dims, counts, out_bits), = energy.count_layers([task])
    assert dims.out_channels == 7 and dims.in_channels == 16
    slices = [ap_counts(random_layer_for(LayerShape("fc", "linear", n, 16),
                                         np.random.default_rng((3, index))), params, 1)
              for index, n in enumerate((2, 2, 2, 1))]
    assert counts.runs == 1
    for field in ("cycles", "searches", "writes", "shifts", "io_words", "adds"):
        assert getattr(counts, field) == sum(getattr(s, field) for s in slices), field
    whole = crossbar_energy(random_layer_for(shape, np.random.default_rng(3)), 1, load_costs(),
                            out_bits=8)
    assert crossbar_energy(dims, 1, load_costs(), out_bits=8) == whole
    # In two processes, each slice is a task of its own; the sums are the same.
    assert energy.count_layers([task, task], jobs=2) == [(dims, counts, out_bits)] * 2


def test_the_break_even_shift_costs_give_the_ratios_they_name():
    shapes = [LayerShape("conv", "conv2d", 4, 3, 3, 1, 1, 4, 4), LayerShape("fc", "linear", 5, 16)]
    params = MachineParams(rows=8, tracks=40, domains=16, program_depth=1 << 14)
    costs = load_costs()
    # A crossbar with 1000x dearer ADCs, so that both ratios are reachable.
    dear = {**costs.values, "crossbar": {**costs.values["crossbar"],
                                         "adc_per_conversion": 1.67e-9}}
    costs = replace(costs, values=dear)
    report = network_energy(shapes, params, costs)
    for key, ratio in (("shift_cost_for_crossbar_parity_j", 1.0),
                       ("shift_cost_for_paper_ratio_j", 7.5)):
        shift = report[key]
        assert shift is not None and shift > 0
        retuned = {**dear, "rtm_ap": {**dear["rtm_ap"], "shift_per_domain_track": shift}}
        again = network_energy(shapes, params, replace(costs, values=retuned))
        assert again["ratio_vs_crossbar"] == pytest.approx(ratio)
    # With the shipped costs, the rest of our energy already exceeds the crossbar's.
    shipped = network_energy(shapes, params, load_costs())
    rest = shipped["energy_per_inference_j"] * (1 - shipped["shift_share"])
    assert rest > shipped["crossbar_energy_j"]
    assert shipped["shift_cost_for_crossbar_parity_j"] is None


def test_a_compiling_process_that_dies_is_a_one_line_error(monkeypatch):
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    from rtmap.sim import energy

    class DyingPool:  # what the pool does when the kernel kills a worker for memory
        def __init__(self, workers):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, *args):
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", DyingPool)
    params = MachineParams(rows=4, tracks=24, domains=16, program_depth=1 << 14)
    tasks = energy.layer_tasks([LayerShape("a", "linear", 2, 4), LayerShape("b", "linear", 2, 4)],
                               params)
    with pytest.raises(RtmapError, match=r"^a compiling process died, probably out of memory: "
                       r"try fewer --jobs than 2$"):
        energy.count_layers(tasks, jobs=2)
