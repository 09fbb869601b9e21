"""The golden model: what a TWN layer must output, integer-exact, in NumPy.

Every other model (the instruction simulator, the RTL) is judged against this one, so it is
written for clarity: a padded sliding-window view and one integer contraction.
"""

from __future__ import annotations

import numpy as np

from .layer import Layer, check_input


def accumulate(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Raw int64 accumulators: conv2d (N, K, OH, OW) or linear (N, K) for a batched ``x``."""
    weights = layer.weights.astype(np.int64)
    if layer.kind == "linear":
        return x.astype(np.int64) @ weights.T
    p, s = layer.padding, layer.stride
    padded = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (p, p), (p, p)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, layer.kernel, axis=(2, 3))
    windows = windows[:, :, ::s, ::s]  # (N, C, OH, OW, KH, KW)
    return np.einsum("nchwij,kcij->nkhw", windows, weights)


def apply_thresholds(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Output k = number of thresholds[k, l] that acc_k reaches: 0..L as uint8."""
    channel_axis = 1
    shape = [1] * acc.ndim + [thresholds.shape[1]]
    shape[channel_axis] = thresholds.shape[0]
    reached = acc[..., np.newaxis] >= thresholds.reshape(shape)
    return reached.sum(axis=-1).astype(np.uint8)


def run_layer(layer: Layer, x) -> np.ndarray:
    """The layer's output for ``x`` (batched or not, same batching out): uint8 levels when the
    layer has thresholds, else int32 accumulators."""
    x = check_input(layer, x)
    batched = x.ndim == (4 if layer.kind == "conv2d" else 2)
    acc = accumulate(layer, x if batched else x[np.newaxis])
    out = acc.astype(np.int32) if layer.thresholds is None else \
        apply_thresholds(acc, layer.thresholds)
    return out if batched else out[0]
