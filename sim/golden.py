"""The golden model: what a TWN layer must output, integer-exact, in NumPy.

Every other model (the instruction simulator, the RTL) is judged against this one, so it is
written for clarity: a padded sliding-window view and one integer contraction.
"""

from __future__ import annotations

import numpy as np

from .layer import Layer, check_input


def accumulate(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Raw int64 values for a batched ``x``: conv2d accumulators (N, K, OH, OW), linear
    (N, K), a residual add's sums (N, C, H, W) or a max-pool's maxima (N, C, OH, OW)."""
    x = x.astype(np.int64)
    if layer.kind == "add":
        c = layer.out_channels
        return x[:, :c] + x[:, c:]
    if layer.kind == "linear":
        return x @ layer.weights.astype(np.int64).T
    windows = _windows(layer, x)  # (N, C, OH, OW, KH, KW)
    if layer.kind == "maxpool":
        return windows.max(axis=(4, 5))
    return np.einsum("nchwij,kcij->nkhw", windows, layer.weights.astype(np.int64))


def _windows(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Every kernel-sized window of the zero-padded ``x``, at the stride."""
    p, s = layer.padding, layer.stride
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, layer.kernel, axis=(2, 3))
    return windows[:, :, ::s, ::s]


def output_dtype(layer: Layer) -> type:
    """uint8 for thresholded levels and max-pool maxima, int32 for accumulators and sums."""
    return np.uint8 if layer.thresholds is not None or layer.kind == "maxpool" else np.int32


def apply_thresholds(acc: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Output k = number of thresholds[k, l] that acc_k reaches: 0..L as uint8."""
    channel_axis = 1
    shape = [1] * acc.ndim + [thresholds.shape[1]]
    shape[channel_axis] = thresholds.shape[0]
    reached = acc[..., np.newaxis] >= thresholds.reshape(shape)
    return reached.sum(axis=-1).astype(np.uint8)


def run_layer(layer: Layer, x) -> np.ndarray:
    """The layer's output for ``x`` (batched or not, same batching out): uint8 levels when the
    layer has thresholds, uint8 maxima for a max-pool, else int32 accumulators (sums)."""
    x = check_input(layer, x)
    batched = x.ndim == (4 if layer.spatial else 2)
    acc = accumulate(layer, x if batched else x[np.newaxis])
    if layer.thresholds is not None:
        out = apply_thresholds(acc, layer.thresholds)
    else:
        out = acc.astype(output_dtype(layer))
    return out if batched else out[0]
