"""Host-side layout: receptive fields against plain loops, word packing round trips."""

import numpy as np
import pytest

from rtmap.host import arrange_outputs, bits_to_words, receptive_fields, split_runs, words_to_bits
from rtmap.sim.layer import Layer


def reference_fields(x, kh, kw, stride, padding):
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), np.uint8)
    padded[:, :, padding:padding + h, padding:padding + w] = x
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    rows = []
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows.append([padded[b, ch, i * stride + u, j * stride + v]
                             for ch in range(c) for u in range(kh) for v in range(kw)])
    return np.array(rows, np.uint8), oh, ow


@pytest.mark.parametrize("kernel,stride,padding,size", [
    ((3, 3), 1, 0, (5, 5)), ((3, 3), 2, 1, (7, 6)), ((1, 1), 1, 0, (3, 4)),
    ((2, 3), 3, 2, (5, 8)), ((3, 1), 1, 1, (4, 4)),
])
def test_receptive_fields_match_plain_loops(kernel, stride, padding, size):
    rng = np.random.default_rng(7)
    x = rng.integers(0, 16, (2, 3, *size)).astype(np.uint8)
    layer = Layer("conv2d", np.ones((4, 3, *kernel), np.int8), stride=stride, padding=padding)
    expected, oh, ow = reference_fields(x, *kernel, stride, padding)
    np.testing.assert_array_equal(receptive_fields(layer, x), expected)
    np.testing.assert_array_equal(receptive_fields(layer, x[0]), expected[: oh * ow])
    per_position = np.arange(len(expected) * 4).reshape(-1, 4)
    out = arrange_outputs(layer, x, per_position)
    assert out.shape == (2, 4, oh, ow)
    assert out[1, 2, oh - 1, 0] == per_position[oh * ow + (oh - 1) * ow, 2]


@pytest.mark.parametrize("width", [1, 7, 8, 33, 200])
def test_word_packing_round_trips(width):
    rng = np.random.default_rng(width)
    bits = rng.integers(0, 2, (13, width)).astype(np.uint8)
    words = bits_to_words(bits)
    assert all(w < 1 << width for w in words)
    assert words[0] == sum(int(b) << j for j, b in enumerate(bits[0]))
    np.testing.assert_array_equal(words_to_bits(words, width), bits)


def test_split_runs_pads_the_last_run_with_zero_rows():
    fields = np.arange(1, 11, dtype=np.uint8).reshape(5, 2)
    runs = split_runs(fields, 2)
    assert len(runs) == 3
    np.testing.assert_array_equal(runs[2], [[9, 10], [0, 0]])
