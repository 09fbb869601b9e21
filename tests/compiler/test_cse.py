"""CSE over folded ternary sums: the DAG computes every channel exactly, never costs more
adds than the folded sums, and is deterministic."""

import numpy as np
import pytest

from rtmap.compiler.cse import TIE_BREAKS, eliminate, naive_adds
from rtmap.compiler.fold import fold_weights
from rtmap.sim.layer import Layer
from rtmap.sim.random_layer import random_layer


def check(weights, tie_break="rarest"):
    layer = Layer("linear", np.asarray(weights, np.int8))
    sums = fold_weights(layer)
    result = eliminate(sums, layer.in_channels, tie_break)
    x = np.random.default_rng(0).integers(-50, 50, (7, layer.in_channels))
    np.testing.assert_array_equal(result.evaluate(x), x @ layer.weights.T.astype(np.int64))
    assert result.adds <= naive_adds(sums)
    for temp in result.temporaries:  # a DAG: operands come first
        assert temp.left < temp.index and temp.right < temp.index and temp.sign in (-1, 1)
    return result, naive_adds(sums)


@pytest.mark.parametrize("seed", range(12))
def test_random_matrices_evaluate_exactly(seed):
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, kind="linear", out_channels=int(rng.integers(1, 40)),
                         in_channels=int(rng.integers(1, 60)),
                         zero_fraction=float(rng.random()))
    check(layer.weights, list(TIE_BREAKS)[seed % len(TIE_BREAKS)])


def test_shared_pairs_become_one_temporary():
    # x0 + x1 in three channels (once negated), x0 - x1 in another.
    result, naive = check([[1, 1, 0], [1, 1, 1], [-1, -1, 1], [1, -1, 0]])
    assert naive == 1 + 2 + 2 + 1
    assert result.adds == 1 + 0 + 1 + 1 + 1  # the temporary, then channel by channel


@pytest.mark.parametrize("weights", [
    [[0, 0, 0]],  # an all-zero channel
    [[1]],  # one input
    [[1, -1, 1, 1]] * 5,  # identical channels
    [[1, -1, 0, 1], [-1, 1, 0, -1]],  # a channel and its negation
    [[1, 0], [0, -1], [0, 0]],
])
def test_edge_cases(weights):
    check(weights)


def test_deterministic_and_better_than_folding():
    layer = random_layer(np.random.default_rng(5), kind="linear", out_channels=32,
                         in_channels=144)
    sums = fold_weights(layer)
    first, second = eliminate(sums, 144), eliminate(sums, 144)
    assert first.temporaries == second.temporaries and first.channels == second.channels
    assert first.adds < 0.5 * naive_adds(sums)  # random 60%-dense matrices share a lot
