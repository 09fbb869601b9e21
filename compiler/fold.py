"""Constant weight folding: a ternary layer becomes one signed add/sub list per output channel.

Weights never reach the array; zero weights vanish here.
"""

from __future__ import annotations

import numpy as np

from ..sim.layer import Layer
from .ir import ChannelSum, Term


def fold_weights(layer: Layer) -> list[ChannelSum]:
    """Signed terms per output channel, indexed into the flattened (C, KH, KW) receptive field.
    A max-pool has no weights: channel c's terms are its window (+1 each), whose largest
    value it takes instead of the sum."""
    if layer.kind == "maxpool":
        window = layer.kernel[0] * layer.kernel[1]
        return [ChannelSum(c, tuple(Term(i, 1) for i in range(c * window, (c + 1) * window)))
                for c in range(layer.out_channels)]
    flat = np.asarray(layer.weights).reshape(layer.out_channels, -1)
    sums = []
    for channel, row in enumerate(flat):
        nonzero = np.flatnonzero(row)
        sums.append(ChannelSum(channel, tuple(map(Term._make, zip(
            nonzero.tolist(), row[nonzero].tolist(), strict=True)))))
    return sums
