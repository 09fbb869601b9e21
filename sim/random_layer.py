"""Random TWN layers and inputs for tests and benchmarks (seeded by the caller's generator)."""

from __future__ import annotations

import numpy as np

from .layer import Layer


def random_layer(rng: np.random.Generator, kind: str = "linear", out_channels: int = 4,
                 in_channels: int = 4, kernel: tuple[int, int] = (3, 3), stride: int = 1,
                 padding: int = 0, in_bits: int = 4, zero_fraction: float = 0.4,
                 thresholds_levels: int | None = None) -> Layer:
    """Ternary weights with ``zero_fraction`` zeros, +1 and -1 equally likely otherwise.

    With ``thresholds_levels`` L, each channel gets L sorted thresholds drawn from its
    reachable accumulator range (repeats allowed), so every output level can occur.
    ``kind="maxpool"``: a ``kernel`` window over ``in_channels`` channels (no weights, no
    thresholds); ``kind="add"``: a residual add of two ``out_channels``-channel tensors.
    """
    if kind == "maxpool":
        return Layer("maxpool", pool=kernel, channels=in_channels, stride=stride,
                     padding=padding, in_bits=in_bits)
    if kind == "add":
        layer = Layer("add", channels=out_channels, in_bits=in_bits)
        return Layer("add", channels=out_channels, in_bits=in_bits,
                     thresholds=None if thresholds_levels is None else
                     _random_thresholds(rng, layer.weights, in_bits, thresholds_levels))
    shape = (out_channels, in_channels, *kernel) if kind == "conv2d" else \
        (out_channels, in_channels)
    signs = rng.choice(np.array([-1, 1], np.int8), size=shape)
    weights = np.where(rng.random(shape) < zero_fraction, 0, signs).astype(np.int8)
    thresholds = None
    if thresholds_levels is not None:
        thresholds = _random_thresholds(rng, weights, in_bits, thresholds_levels)
    conv = kind == "conv2d"
    return Layer(kind, weights, stride=stride if conv else 1, padding=padding if conv else 0,
                 in_bits=in_bits, thresholds=thresholds)


def _random_thresholds(rng: np.random.Generator, weights: np.ndarray, in_bits: int,
                       levels: int) -> np.ndarray:
    flat = weights.reshape(weights.shape[0], -1).astype(np.int64)
    top = (1 << in_bits) - 1
    low = -top * (flat < 0).sum(axis=1)
    high = top * (flat > 0).sum(axis=1)
    # A little beyond the reachable range on both sides, so levels 0 and L also occur.
    draws = rng.integers(low - 1, high + 2, size=(levels, weights.shape[0]))
    return np.sort(draws.T, axis=1).astype(np.int32)


def random_input(rng: np.random.Generator, layer: Layer, batch: int | None = None,
                 height: int | None = None, width: int | None = None) -> np.ndarray:
    """Uniform activations below 2**in_bits; ``batch=None`` gives an unbatched input.

    conv2d height/width default to the smallest size giving a 3x3 output (at least).
    """
    shape: tuple[int, ...] = (layer.in_channels,)
    if layer.spatial:
        (kh, kw), p, s = layer.kernel, layer.padding, layer.stride
        height = height or max(1, kh - 2 * p + 2 * s)
        width = width or max(1, kw - 2 * p + 2 * s)
        shape += (height, width)
    if batch is not None:
        shape = (batch, *shape)
    return rng.integers(0, 1 << layer.in_bits, size=shape).astype(np.uint8)
