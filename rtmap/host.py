"""The host side of running a compiled layer: what goes into the array and what comes out.

Every row computes one output position, so the host lays out one receptive field per row
(im2col for conv2d), splits the positions into runs of ``plan.active_rows``, packs each run
into the T-bit words the program's LOAD loop consumes, and unpacks the words READ returns.
"""

from __future__ import annotations

import numpy as np

from .compiler.ir import LayerPlan
from .sim.layer import Layer


def receptive_fields(layer: Layer, x: np.ndarray) -> np.ndarray:
    """One row per output position: (positions, C*KH*KW) uint8, in the weights' flat order."""
    if layer.kind == "linear":
        return np.atleast_2d(x).astype(np.uint8)
    batch = x if x.ndim == 4 else x[np.newaxis]
    kh, kw = layer.kernel
    p, s = layer.padding, layer.stride
    padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)))
    # windows: (N, C, OH', OW', KH, KW) with stride 1; take every s-th position
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::s, ::s]
    n, c, oh, ow = windows.shape[:4]
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)


def arrange_outputs(layer: Layer, x: np.ndarray, per_position: np.ndarray) -> np.ndarray:
    """Positions x channels back into the golden model's output shape."""
    if layer.kind == "linear":
        return per_position if x.ndim == 2 else per_position[0]
    batch = x if x.ndim == 4 else x[np.newaxis]
    kh, kw = layer.kernel
    p, s = layer.padding, layer.stride
    oh = (batch.shape[2] + 2 * p - kh) // s + 1
    ow = (batch.shape[3] + 2 * p - kw) // s + 1
    out = per_position.reshape(batch.shape[0], oh, ow, -1).transpose(0, 3, 1, 2)
    return out if x.ndim == 4 else out[0]


def split_runs(fields: np.ndarray, rows: int) -> list[np.ndarray]:
    """Runs of ``rows`` positions each; the last is padded with zero rows."""
    runs = []
    for start in range(0, len(fields), rows):
        chunk = fields[start:start + rows]
        if len(chunk) < rows:
            chunk = np.vstack([chunk, np.zeros((rows - len(chunk), fields.shape[1]), np.uint8)])
        runs.append(chunk)
    return runs


def bits_to_words(bits: np.ndarray) -> list[int]:
    """(n, width) 0/1 array -> n integers, column j as bit j."""
    packed = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def words_to_bits(words: list[int], width: int) -> np.ndarray:
    """n integers -> (n, width) 0/1 array, bit j in column j."""
    nbytes = (width + 7) // 8
    raw = b"".join(w.to_bytes(nbytes, "little") for w in words)
    bits = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(len(words), nbytes),
                         axis=1, bitorder="little")
    return bits[:, :width]


def input_words(plan: LayerPlan, run: np.ndarray) -> list[int]:
    """The LOAD stream of one run: per tile (per channel group when tiles reload), for each
    input bit (LSB first), one word per row with the tile's inputs in bits 0..count-1."""
    tiles = []
    for first, count in plan.tiles:
        tile = run[:, first:first + count]
        words = []
        for bit in range(plan.in_bits):
            words += bits_to_words((tile >> bit) & 1)
        tiles.append(words)
    passes = len(plan.groups) if plan.reloads else 1
    return [word for _ in range(passes) for words in tiles for word in words]


def output_count(plan: LayerPlan) -> int:
    return sum(g.read_bits for g in plan.groups) * plan.active_rows


def decode_outputs(plan: LayerPlan, words: list[int], tracks: int) -> np.ndarray:
    """The READ stream of one run -> (active_rows, K) values (int64)."""
    if len(words) != output_count(plan):
        raise ValueError(f"expected {output_count(plan)} output words, got {len(words)}")
    bits = words_to_bits(words, tracks)
    out = np.zeros((plan.active_rows, plan.out_channels), np.int64)
    offset = 0
    for group in plan.groups:
        count = group.read_bits * plan.active_rows
        block = bits[offset:offset + count].reshape(group.read_bits, plan.active_rows, tracks)
        offset += count
        for ch in group.channels:
            weights = 1 << np.arange(ch.out_bits, dtype=np.int64)
            value = (block[:ch.out_bits, :, ch.track].T.astype(np.int64) * weights).sum(axis=1)
            if not plan.thresholded and plan.kind != "maxpool":  # two's complement sum
                value = np.where(value >> (ch.out_bits - 1) & 1, value - (1 << ch.out_bits), value)
            out[:, ch.channel] = value
    return out
