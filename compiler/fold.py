"""Constant weight folding: a ternary layer becomes one signed add/sub list per output channel.

Weights never reach the array; zero weights vanish here.
"""

from __future__ import annotations

import numpy as np

from ..sim.layer import Layer
from .ir import ChannelSum, Term


def fold_weights(layer: Layer) -> list[ChannelSum]:
    """Signed terms per output channel, indexed into the flattened (C, KH, KW) receptive field."""
    flat = np.asarray(layer.weights).reshape(layer.out_channels, -1)
    sums = []
    for channel, row in enumerate(flat):
        nonzero = np.flatnonzero(row)
        sums.append(ChannelSum(channel, tuple(Term(int(i), int(row[i])) for i in nonzero)))
    return sums
