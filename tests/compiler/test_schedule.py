"""Temporaries on tracks: a schedule, replayed on a NumPy model of the tracks (each value
kept modulo 2**bits, as the array holds it), computes every channel exactly; it uses only
pool tracks, never overwrites a live temporary, and respects the pool's size."""

import numpy as np
import pytest

from rtmap.compiler.bitwidth import accumulator_bits
from rtmap.compiler.fold import fold_weights
from rtmap.compiler.schedule import Accumulate, Materialise, schedule_group
from rtmap.sim.random_layer import random_layer


def replay(ops, x, inputs, pool, widths):
    """Run the schedule on tracks holding ``x`` (rows x inputs); returns channel values."""
    tracks = {i: x[:, i] for i in range(inputs)}  # inputs: unsigned, exact
    live_until = {}  # track -> the last op reading its temporary
    out = {}
    for index, op in enumerate(ops):
        width = op.bits if isinstance(op, Materialise) else widths[op.position]
        for operand, _ in op.terms:
            if operand.signed:
                assert operand.bits >= width, "a temporary narrower than its consumer"
        total = sum((sign * tracks[o.track] for o, sign in op.terms), np.zeros(len(x), int))
        if isinstance(op, Materialise):
            assert op.track in pool and op.track >= inputs
            assert live_until.get(op.track, -1) < index, "a live temporary overwritten"
            tracks[op.track] = wrap(total, op.bits)
            live_until[op.track] = _last_read(ops, index, op.track)
        else:
            out[op.position] = wrap(total, width)
    return out


def wrap(v, bits):
    """Two's complement ``bits`` wide, as a track holds it."""
    v = np.asarray(v, np.int64) & ((1 << bits) - 1)
    return np.where(v >> (bits - 1) & 1, v - (1 << bits), v)


def _last_read(ops, start, track):
    last = start
    for i in range(start + 1, len(ops)):
        op = ops[i]
        if isinstance(op, Materialise) and op.track == track:
            break
        if any(o.signed and o.track == track for o, _ in op.terms):
            last = i
    return last


@pytest.mark.parametrize("seed", range(16))
def test_schedule_computes_every_channel(seed):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(1, 24)), int(rng.integers(1, 40))
    in_bits = int(rng.integers(1, 6))
    layer = random_layer(rng, kind="linear", out_channels=k, in_channels=n, in_bits=in_bits,
                         zero_fraction=float(rng.uniform(0, 0.8)))
    sums = fold_weights(layer)
    widths = [accumulator_bits(s, in_bits) for s in sums]
    pool_size = [0, 1, 2, 5, 1000][seed % 5]
    pool = list(range(n + 3, n + 3 + pool_size))
    ops = schedule_group(layer.weights, widths, in_bits, pool)
    x = rng.integers(0, 1 << in_bits, (9, n))
    got = replay(ops, x, n, set(pool), widths)
    expected = x @ layer.weights.T.astype(np.int64)
    for position in range(k):
        np.testing.assert_array_equal(got[position], expected[:, position])
    assert sorted(op.position for op in ops if isinstance(op, Accumulate)) == list(range(k))
    live = peak_live(ops)
    assert live <= pool_size


def peak_live(ops):
    """The most temporaries held at once (a track counts from its write to its last read)."""
    spans = []
    for index, op in enumerate(ops):
        if isinstance(op, Materialise):
            spans.append((index, _last_read(ops, index, op.track)))
    return max((sum(1 for a, b in spans if a <= i <= b) for i in range(len(ops))), default=0)


def test_no_pool_means_the_folded_sums():
    layer = random_layer(np.random.default_rng(0), kind="linear", out_channels=5,
                         in_channels=9)
    sums = fold_weights(layer)
    ops = schedule_group(layer.weights, [8] * 5, 3, [])
    assert all(isinstance(op, Accumulate) for op in ops)
    assert [[(o.track, sign) for o, sign in op.terms] for op in ops] == \
        [[(t.index, t.sign) for t in s.terms] for s in sums]


def test_a_shared_pair_is_computed_once_and_used_by_each_channel():
    # x0 + x1 in three channels (once negated): one temporary, used three times.
    weights = np.array([[1, 1, 0], [1, 1, 1], [-1, -1, 1]], np.int8)
    ops = schedule_group(weights, [4, 5, 5], 2, [7, 8])
    materialised = [op for op in ops if isinstance(op, Materialise)]
    assert len(materialised) == 1 and materialised[0].track == 7
    assert sorted((o.track, s) for o, s in materialised[0].terms) == [(0, 1), (1, 1)]
    assert materialised[0].bits >= 5  # as wide as the widest accumulator it feeds
    uses = [sorted((o.track, s) for o, s in op.terms) for op in ops
            if isinstance(op, Accumulate)]
    assert uses == [[(7, 1)], [(2, 1), (7, 1)], [(2, 1), (7, -1)]]

