"""Constant weight folding keeps the layer's arithmetic: sum of signed terms == weights . x."""

import numpy as np

from rtmap.compiler.bitwidth import accumulator_range, signed_bits
from rtmap.compiler.fold import fold_weights
from rtmap.sim.random_layer import random_layer


def test_folded_terms_reproduce_the_dot_product():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        layer = random_layer(rng, kind=["linear", "conv2d"][seed % 2], out_channels=6,
                             in_channels=3, kernel=(3, 2), zero_fraction=0.5)
        flat = layer.weights.reshape(layer.out_channels, -1).astype(np.int64)
        x = rng.integers(0, 16, flat.shape[1])
        sums = fold_weights(layer)
        assert [s.channel for s in sums] == list(range(layer.out_channels))
        for s in sums:
            assert all(t.sign in (-1, 1) for t in s.terms)
            assert len(s.terms) == np.count_nonzero(flat[s.channel]), f"seed {seed}"
            assert sum(t.sign * int(x[t.index]) for t in s.terms) == flat[s.channel] @ x


def test_accumulator_width_covers_its_range_exactly():
    for low, high in [(0, 0), (-1, 0), (0, 1), (-15, 30), (-128, 127), (-129, 0), (0, 128)]:
        bits = signed_bits(low, high)
        assert -(1 << (bits - 1)) <= low and high <= (1 << (bits - 1)) - 1
        if bits > 1:
            assert not (-(1 << (bits - 2)) <= low and high <= (1 << (bits - 2)) - 1)


def test_accumulator_range_counts_signs():
    layer = random_layer(np.random.default_rng(3), kind="linear", out_channels=4, in_channels=9)
    for s in fold_weights(layer):
        low, high = accumulator_range(s, 4)
        assert low == -15 * sum(t.sign < 0 for t in s.terms)
        assert high == 15 * sum(t.sign > 0 for t in s.terms)
