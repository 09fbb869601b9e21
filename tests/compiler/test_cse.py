"""CSE over folded ternary sums: the DAG computes every channel exactly (checked against a
plain matrix product), never costs more adds than the folded sums, and is deterministic."""

import numpy as np
import pytest

from rtmap.compiler.cse import eliminate, eliminate_matrix, naive_adds
from rtmap.compiler.fold import fold_weights
from rtmap.sim.layer import Layer
from rtmap.sim.random_layer import random_layer


def check(weights, **options):
    layer = Layer("linear", np.asarray(weights, np.int8))
    sums = fold_weights(layer)
    result = eliminate(sums, layer.in_channels, **options)
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
    options = [{}, {"rounds": 0}, {"block_inputs": int(rng.integers(1, 20))},
               {"rounds": 5, "seed": seed}][seed % 4]
    check(layer.weights, **options)


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


def test_identical_channels_cost_one_chain():
    result, _ = check([[1, -1, 1, 1]] * 5)
    assert result.adds == 3  # x0 - x1 + x2 + x3 once; every channel is a copy of it


def test_blocks_keep_temporaries_inside_their_inputs():
    layer = random_layer(np.random.default_rng(3), kind="linear", out_channels=20,
                         in_channels=50)
    result, _ = check(layer.weights, block_inputs=16)
    leaves = {}
    for temp in result.temporaries:
        block = {leaves.get(v, v // 16) for v in (temp.left, temp.right)}
        assert len(block) == 1  # both operands from the same block of 16 inputs
        leaves[temp.index] = block.pop()


def test_deterministic_and_improvement_only_helps():
    layer = random_layer(np.random.default_rng(5), kind="linear", out_channels=32,
                         in_channels=144, zero_fraction=0.4)
    sums = fold_weights(layer)
    first, second = eliminate(sums, 144), eliminate(sums, 144)
    np.testing.assert_array_equal(first.temps, second.temps)
    assert all((a == b).all() for a, b in zip(first.channels, second.channels, strict=True))
    greedy = eliminate(sums, 144, rounds=0)
    assert first.adds <= greedy.adds < 0.5 * naive_adds(sums)


def test_rejects_non_ternary_matrix():
    with pytest.raises(ValueError, match="-1, 0 and \\+1"):
        eliminate_matrix(np.array([[2, 0]]))
