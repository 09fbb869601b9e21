"""Lowering: LUT pass orders, and compiled layers on the simulator against the golden model."""

import itertools

import numpy as np
import pytest
from hw_models import random_arith

from rtmap import host
from rtmap.compiler.analysis import column_activity, program_counts
from rtmap.compiler.pipeline import compile_layer
from rtmap.errors import RtmapError
from rtmap.isa import (
    ADD_PASSES,
    BORROW_PASSES,
    CARRY_PASSES,
    CLEAR_PASSES,
    MOV_PASSES,
    SUB_PASSES,
    Opcode,
    arith_columns,
    micro_steps,
)
from rtmap.params import MachineParams
from rtmap.run import run_layer
from rtmap.sim.golden import run_layer as golden
from rtmap.sim.layer import Layer
from rtmap.sim.machine import Machine
from rtmap.sim.random_layer import random_input, random_layer


def apply_passes(passes, state):
    """Run compare/write passes on one row's state; return the final state and match count."""
    matches = 0
    for key, value in passes:
        if tuple(state[: len(key)]) == key:
            matches += 1
            state = (*value, *state[len(value):])
    return state, matches


@pytest.mark.parametrize("subtract", [False, True])
def test_full_passes_are_a_full_adder_or_subtractor(subtract):
    passes = SUB_PASSES if subtract else ADD_PASSES
    for c, b, a in itertools.product((0, 1), repeat=3):
        (carry, bit, _), matches = apply_passes(passes, (c, b, a))
        total = b - a - c if subtract else a + b + c
        assert matches <= 1, (c, b, a)
        assert bit == total & 1
        assert carry == (1 if (total < 0 if subtract else total > 1) else 0)


@pytest.mark.parametrize("subtract", [False, True])
def test_tail_passes_propagate_carry_or_borrow(subtract):
    passes = BORROW_PASSES if subtract else CARRY_PASSES
    for c, b in itertools.product((0, 1), repeat=2):
        (carry, bit), matches = apply_passes(passes, (c, b))
        total = b - c if subtract else b + c
        assert matches <= 1
        assert bit == total & 1
        assert carry == (1 if (total < 0 if subtract else total > 1) else 0)


def test_mov_passes_copy_then_clear():
    # The carry is cleared before a mov and stays 0: B takes A, then above A's bits B is 0.
    for b, a in itertools.product((0, 1), repeat=2):
        (carry, bit, _), matches = apply_passes(MOV_PASSES, (0, b, a))
        assert (carry, bit) == (0, a) and matches <= 1
    for b in (0, 1):
        assert apply_passes(CLEAR_PASSES, (0, b))[0] == (0, 0)


SHAPES = [
    # (kind, K, C, kernel, stride, padding, in_bits, levels, batch, hw)
    ("linear", 5, 7, None, 1, 0, 4, None, 3, None),
    ("linear", 9, 4, None, 1, 0, 1, None, None, None),
    ("linear", 6, 10, None, 1, 0, 8, 15, 4, None),
    ("linear", 1, 1, None, 1, 0, 3, 3, 2, None),
    ("conv2d", 4, 2, (3, 3), 1, 1, 4, None, None, (5, 6)),
    ("conv2d", 3, 1, (3, 3), 2, 0, 4, 15, 2, (7, 7)),
    ("conv2d", 5, 3, (1, 1), 1, 0, 2, 7, None, (4, 3)),
    ("conv2d", 2, 2, (2, 3), 3, 2, 5, None, 1, (6, 5)),
    ("maxpool", None, 3, (3, 3), 2, 1, 4, None, 2, (7, 6)),
    ("maxpool", None, 4, (2, 2), 2, 0, 8, None, None, (5, 4)),
    ("add", 3, None, None, 1, 0, 4, None, 2, (3, 4)),
    ("add", 2, None, None, 1, 0, 6, 15, None, (2, 5)),
]


def layer_and_input(shape, seed):
    """A random layer and input from a (kind, K, C, kernel, stride, padding, in_bits, levels,
    batch, (height, width)) row of SHAPES or TILED."""
    kind, k, c, kernel, stride, padding, bits, levels, batch, hw = shape[:10]
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, kind=kind, out_channels=k or 1, in_channels=c or 1,
                         kernel=kernel or (1, 1), stride=stride, padding=padding, in_bits=bits,
                         thresholds_levels=levels)
    h, w = hw or (None, None)
    return layer, random_input(rng, layer, batch=batch, height=h, width=w)


@pytest.mark.parametrize("index", range(len(SHAPES)))
def test_simulated_layer_equals_golden(index):
    seed = 1000 + index
    layer, x = layer_and_input(SHAPES[index], seed)
    # few rows and tracks: several runs and several channel groups per run
    kh, kw = layer.kernel
    params = MachineParams(rows=7, tracks=layer.in_channels * kh * kw + 4,
                           domains=16, program_depth=8192)  # 15 levels of 8-bit sums are long
    result = run_layer(layer, x, "sim", params)
    expected = golden(layer, x)
    assert result.output.dtype == expected.dtype, f"seed {seed}"
    assert result.output.shape == expected.shape, f"seed {seed}"
    np.testing.assert_array_equal(result.output, expected, err_msg=f"seed {seed}")


@pytest.mark.parametrize("seed", range(6))
def test_static_counts_equal_simulator_counters(seed):
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, kind="linear", out_channels=int(rng.integers(1, 9)),
                         in_channels=int(rng.integers(1, 9)), in_bits=int(rng.integers(1, 9)),
                         thresholds_levels=[None, 15][seed % 2])
    params = MachineParams(rows=4, tracks=20, domains=16, shift_latency=1 + seed % 3)
    x = random_input(rng, layer, batch=4)
    compiled = compile_layer(layer, params, active_rows=4)
    result = run_layer(layer, x, "sim", params)
    expected = program_counts(compiled.code, params)
    assert result.stats["runs"] == 1
    assert {k: result.stats[k] for k in expected} == expected, f"seed {seed}"


def test_extreme_accumulators_and_thresholds():
    """All +1 and all -1 channels at full-scale inputs reach both ends of the range."""
    weights = np.array([[1] * 6, [-1] * 6, [1, -1] * 3, [0] * 6], np.int8)
    thresholds = np.array([[-100, 0, 90], [-90, -89, 1], [0, 0, 0], [-1, 0, 1]], np.int32)
    for th in (None, thresholds):
        layer = Layer("linear", weights, in_bits=4, thresholds=th)
        x = np.array([[15] * 6, [0] * 6, [15, 0] * 3, [0, 15] * 3], np.uint8)
        result = run_layer(layer, x, "sim", MachineParams(rows=4, tracks=12, domains=8))
        np.testing.assert_array_equal(result.output, golden(layer, x))


def test_too_few_tracks_are_rejected():
    layer = Layer("conv2d", np.ones((2, 4, 3, 3), np.int8))
    with pytest.raises(RtmapError, match=r"layer needs at least 2 tracks per row \(an input "
                                         r"and an accumulator\) but the machine has tracks=1"):
        compile_layer(layer, MachineParams(tracks=1))
    thresholded = Layer("linear", np.ones((2, 3), np.int8), thresholds=np.zeros((2, 1)))
    with pytest.raises(RtmapError, match=r"at least 3 tracks per row \(an input, an "
                                         r"accumulator and an output\) .* tracks=2"):
        compile_layer(thresholded, MachineParams(tracks=2))


# Receptive fields wider than the tracks: inputs stream through in tiles, channel groups
# keep their accumulators resident (and reload the inputs), thresholds applied in the array.
TILED = [
    # (kind, K, C, kernel, stride, padding, in_bits, levels, batch, hw, tracks)
    ("linear", 5, 40, None, 1, 0, 4, None, 6, None, 8),
    ("linear", 7, 13, None, 1, 0, 3, 5, 3, None, 4),
    ("linear", 3, 9, None, 1, 0, 2, None, 2, None, 2),
    ("conv2d", 4, 3, (3, 3), 1, 1, 4, None, None, (4, 5), 12),
    ("conv2d", 6, 4, (3, 3), 2, 0, 3, 15, 2, (5, 5), 16),
    ("conv2d", 9, 2, (1, 1), 1, 0, 4, 3, None, (3, 3), 3),
    ("maxpool", None, 4, (3, 3), 2, 1, 4, None, 2, (5, 6), 10),
    ("maxpool", None, 3, (2, 2), 1, 0, 5, None, None, (3, 4), 2),
    ("add", 5, None, None, 1, 0, 4, 15, 2, (2, 3), 6),
]


@pytest.mark.parametrize("index", range(len(TILED)))
def test_tiled_layers_equal_golden(index):
    seed = 2000 + index
    layer, x = layer_and_input(TILED[index], seed)
    params = MachineParams(rows=5, tracks=TILED[index][10], domains=16, program_depth=1 << 16)
    result = run_layer(layer, x, "sim", params)
    np.testing.assert_array_equal(result.output, golden(layer, x), err_msg=f"seed {seed}")
    compiled = compile_layer(layer, params, active_rows=result.stats["active_rows"])
    assert compiled.plan.reloads, "these shapes do not fit in one tile"
    expected = program_counts(compiled.code, params)
    assert result.stats["cycles"] == expected["cycles"] * result.stats["runs"]


def test_accumulator_wider_than_domains_is_rejected():
    layer = Layer("linear", np.ones((1, 20), np.int8), in_bits=4)
    with pytest.raises(RtmapError, match="output channel 0 needs a 10-bit accumulator .* "
                                         "but domains=8"):
        compile_layer(layer, MachineParams(tracks=32, domains=8))


def test_program_longer_than_memory_is_rejected():
    layer = Layer("linear", np.ones((8, 8), np.int8))
    with pytest.raises(RtmapError, match=r"program needs \d+ words but program_depth=64"):
        compile_layer(layer, MachineParams(tracks=16, program_depth=64))


@pytest.mark.parametrize("index", range(0, len(SHAPES), 2))
def test_column_activity_equals_what_the_simulator_executed(index):
    """The energy model's search and write activity, counted from the program alone, equals
    the columns the simulator compared and wrote while running it."""
    layer, x = layer_and_input(SHAPES[index], 3000 + index)
    kh, kw = layer.kernel
    params = MachineParams(rows=6, tracks=layer.in_channels * kh * kw + 4, domains=16,
                           program_depth=8192)
    fields = host.receptive_fields(layer, x)
    compiled = compile_layer(layer, params, active_rows=min(params.rows, len(fields)))
    run = host.split_runs(fields, compiled.plan.active_rows)[0]
    result = Machine(params).run(compiled.program.words, host.input_words(compiled.plan, run))
    assert result.halted
    assert column_activity(compiled.code) == result.activity


def test_arith_columns_are_those_of_its_micro_steps():
    rng = np.random.default_rng(5)
    params = MachineParams(rows=2, tracks=6, domains=12)
    for _ in range(60):
        instr = random_arith(rng, params)
        steps = micro_steps(instr, params)
        searched = sum(len(s.slots) for s in steps if s.op is Opcode.SEARCH)
        written = sum(len(s.slots) for s in steps if s.op is Opcode.WRITE)
        assert arith_columns(instr) == (searched, written), instr
