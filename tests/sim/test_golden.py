"""The golden model against plain Python loops on random layers, batched and not."""

import numpy as np
import pytest

from rtmap.sim.golden import run_layer
from rtmap.sim.layer import output_shape
from rtmap.sim.random_layer import random_input, random_layer


def loop_accumulator(layer, image, k, i, j):
    """One conv2d output accumulator, straight from the definition."""
    _, c_in, kh, kw = layer.weights.shape
    _, h, w = image.shape
    total = 0
    for c in range(c_in):
        for u in range(kh):
            for v in range(kw):
                y = i * layer.stride + u - layer.padding
                x = j * layer.stride + v - layer.padding
                if 0 <= y < h and 0 <= x < w:  # zero padding outside
                    total += int(layer.weights[k, c, u, v]) * int(image[c, y, x])
    return total


def loop_levels(layer, k, acc):
    return sum(1 for t in layer.thresholds[k] if acc >= t)


def loop_conv(layer, image):
    k_out = layer.out_channels
    (kh, kw), p, s = layer.kernel, layer.padding, layer.stride
    oh = (image.shape[1] + 2 * p - kh) // s + 1
    ow = (image.shape[2] + 2 * p - kw) // s + 1
    out = np.zeros((k_out, oh, ow), np.int64)
    for k in range(k_out):
        for i in range(oh):
            for j in range(ow):
                acc = loop_accumulator(layer, image, k, i, j)
                out[k, i, j] = acc if layer.thresholds is None else loop_levels(layer, k, acc)
    return out


def loop_linear(layer, vector):
    out = []
    for k in range(layer.out_channels):
        acc = sum(int(w) * int(a) for w, a in zip(layer.weights[k], vector, strict=True))
        out.append(acc if layer.thresholds is None else loop_levels(layer, k, acc))
    return np.array(out)


@pytest.mark.parametrize("seed", range(40))
def test_conv2d_matches_plain_loops(seed):
    rng = np.random.default_rng(seed)
    kernel = tuple(int(v) for v in rng.integers(1, 4, 2))
    layer = random_layer(rng, kind="conv2d", out_channels=int(rng.integers(1, 5)),
                         in_channels=int(rng.integers(1, 4)), kernel=kernel,
                         stride=int(rng.integers(1, 4)), padding=int(rng.integers(0, 3)),
                         in_bits=int(rng.integers(1, 9)), zero_fraction=float(rng.random()),
                         thresholds_levels=[None, 1, 3, 15][seed % 4])
    batch = [None, 1, 3][seed % 3]
    x = random_input(rng, layer, batch=batch, height=int(rng.integers(kernel[0], 9)),
                     width=int(rng.integers(kernel[1], 9)))
    y = run_layer(layer, x)
    images = x if batch else x[np.newaxis]
    expected = np.stack([loop_conv(layer, image) for image in images])
    expected = expected if batch else expected[0]
    assert y.dtype == (np.int32 if layer.thresholds is None else np.uint8)
    assert y.shape == output_shape(layer, x.shape)
    np.testing.assert_array_equal(y, expected, err_msg=f"seed {seed}")


@pytest.mark.parametrize("seed", range(20))
def test_linear_matches_plain_loops(seed):
    rng = np.random.default_rng(100 + seed)
    layer = random_layer(rng, kind="linear", out_channels=int(rng.integers(1, 20)),
                         in_channels=int(rng.integers(1, 60)), in_bits=int(rng.integers(1, 9)),
                         thresholds_levels=[None, 7, 255][seed % 3])
    batch = [None, 5][seed % 2]
    x = random_input(rng, layer, batch=batch)
    y = run_layer(layer, x)
    vectors = x if batch else x[np.newaxis]
    expected = np.stack([loop_linear(layer, v) for v in vectors])
    np.testing.assert_array_equal(y, expected if batch else expected[0], err_msg=f"seed {seed}")
    assert y.shape == output_shape(layer, x.shape)


def test_threshold_levels_cover_both_ends():
    """Thresholds equal to the accumulator count as reached (>=), and every level occurs."""
    from rtmap.sim.layer import Layer

    layer = Layer("linear", np.array([[1, -1]], np.int8), in_bits=2,
                  thresholds=np.array([[-3, 0, 0, 2]], np.int32))
    x = np.array([[0, 3], [0, 0], [2, 0], [3, 0]], np.uint8)  # acc -3, 0, 2, 3
    np.testing.assert_array_equal(run_layer(layer, x), [[1], [3], [4], [4]])


def test_extreme_accumulators_do_not_overflow():
    from rtmap.sim.layer import Layer

    weights = np.ones((2, 64, 3, 3), np.int8)
    weights[1] = -1
    layer = Layer("conv2d", weights, in_bits=8)
    y = run_layer(layer, np.full((64, 3, 3), 255, np.uint8))
    np.testing.assert_array_equal(y[:, 0, 0], [255 * 576, -255 * 576])


def loop_maxpool(layer, image):
    """Every output of a max-pool from the definition: the largest input in the window,
    a zero standing in for every position of the padding."""
    (kh, kw), p, s = layer.kernel, layer.padding, layer.stride
    c, h, w = image.shape
    oh, ow = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    out = np.zeros((c, oh, ow), np.int64)
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                best = 0
                for u in range(kh):
                    for v in range(kw):
                        y, x = i * s + u - p, j * s + v - p
                        if 0 <= y < h and 0 <= x < w:
                            best = max(best, int(image[ch, y, x]))
                out[ch, i, j] = best
    return out


@pytest.mark.parametrize("seed", range(16))
def test_maxpool_matches_plain_loops(seed):
    rng = np.random.default_rng(200 + seed)
    kernel = tuple(int(v) for v in rng.integers(1, 4, 2))
    layer = random_layer(rng, kind="maxpool", in_channels=int(rng.integers(1, 5)),
                         kernel=kernel, stride=int(rng.integers(1, 4)),
                         padding=int(rng.integers(0, 2)), in_bits=int(rng.integers(1, 9)))
    batch = [None, 2][seed % 2]
    x = random_input(rng, layer, batch=batch, height=int(rng.integers(kernel[0], 8)),
                     width=int(rng.integers(kernel[1], 8)))
    y = run_layer(layer, x)
    images = x if batch else x[np.newaxis]
    expected = np.stack([loop_maxpool(layer, image) for image in images])
    assert y.dtype == np.uint8 and y.shape == output_shape(layer, x.shape)
    np.testing.assert_array_equal(y, expected if batch else expected[0], err_msg=f"seed {seed}")


@pytest.mark.parametrize("seed", range(12))
def test_residual_add_matches_plain_loops(seed):
    rng = np.random.default_rng(300 + seed)
    c = int(rng.integers(1, 6))
    layer = random_layer(rng, kind="add", out_channels=c, in_bits=int(rng.integers(1, 9)),
                         thresholds_levels=[None, 3, 15][seed % 3])
    x = random_input(rng, layer, batch=2, height=int(rng.integers(1, 5)),
                     width=int(rng.integers(1, 5)))
    y = run_layer(layer, x)
    assert layer.in_channels == 2 * c and y.shape == output_shape(layer, x.shape)
    for n, ch, i, j in np.ndindex(*y.shape):
        total = int(x[n, ch, i, j]) + int(x[n, c + ch, i, j])
        want = total if layer.thresholds is None else loop_levels(layer, ch, total)
        assert y[n, ch, i, j] == want, f"seed {seed} at {(n, ch, i, j)}"
