"""A trained fake-quant network (:mod:`rtmap.train.qat`) as an integer rtmap network.

A ternary layer's accumulator ``acc`` is already the processor's. The batch norm and the
quantised ReLU after it give level ``l`` (1..L) exactly when ``g * acc + b >= l - 1/2``. For
``g > 0`` that is ``acc >= ceil((l - 1/2 - b) / g)``, an integer threshold. For ``g < 0`` the
channel's weights are negated (which keeps them ternary) and ``g`` with them. For ``g = 0``
the level is a constant, reached always or never. The last layer, a ternary linear layer
times a positive scale, returns its raw accumulators: their largest is the largest logit.
"""

from __future__ import annotations

import numpy as np

from ..errors import RtmapError
from ..sim.network import FORMAT, VERSION, Network, build_network
from .qat import (
    BatchNorm,
    Flatten,
    MaxPool,
    QuantReLU,
    Scale,
    Sequential,
    TernaryConv,
    TernaryLinear,
    ternarize,
)

INT32 = np.iinfo(np.int32)


def fold_thresholds(weights: np.ndarray, g: np.ndarray, b: np.ndarray,
                    levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Ternary ``weights`` (K, ...) with negated channels where g < 0, and int32 thresholds
    (K, levels) such that the number reached equals clip(floor(g * acc + b + 1/2), 0, levels)."""
    weights = weights.copy()
    negative = g < 0
    weights[negative] = -weights[negative]
    magnitude = np.abs(g)[:, None]
    steps = np.arange(1, levels + 1) - 0.5  # level l needs g * acc + b >= l - 1/2
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.ceil((steps[None, :] - b[:, None]) / magnitude)
    constant = np.where(b[:, None] >= steps[None, :], INT32.min, INT32.max)
    thresholds = np.where(magnitude > 0, bound, constant)
    return weights, np.clip(thresholds, INT32.min, INT32.max).astype(np.int32)


def to_network(model: Sequential, input_shape: tuple[int, ...], in_bits: int,
               names: list[str] | None = None) -> Network:
    """The integer network ``model`` computes on ``in_bits``-bit inputs of ``input_shape``."""
    layers, arrays = [], {}
    pending = list(model.layers)
    index = 0
    while pending:
        head = pending.pop(0)
        name = names[index] if names else f"layer{index}"
        index += 1
        if isinstance(head, MaxPool):
            layers.append({"name": name, "kind": "maxpool", "pool": [head.size, head.size],
                           "stride": head.size, "padding": 0})
            continue
        if isinstance(head, Flatten):
            layers.append({"name": name, "kind": "flatten"})
            continue
        if not isinstance(head, TernaryConv | TernaryLinear):
            raise RtmapError(f"cannot fold a {type(head).__name__} here: expected a ternary "
                             "layer, a max-pool or a flatten")
        entry = {"name": name, "kind": "conv2d" if isinstance(head, TernaryConv) else "linear"}
        if isinstance(head, TernaryConv):
            entry.update(stride=1, padding=head.padding)
        weights = ternarize(head.w.value)
        if len(pending) >= 2 and isinstance(pending[0], BatchNorm) \
                and isinstance(pending[1], QuantReLU):
            norm, relu = pending.pop(0), pending.pop(0)
            weights, thresholds = fold_thresholds(weights, *norm.folded(), relu.high)
            arrays[f"{name}.thresholds"] = thresholds
        elif len(pending) == 1 and isinstance(pending[0], Scale):
            pending.pop(0)  # a positive scale: the raw accumulators rank as the logits do
        else:
            raise RtmapError(f"cannot fold {name}: a ternary layer must be followed by a batch "
                             "norm and a quantised ReLU, or be the last layer with a scale")
        arrays[f"{name}.weights"] = weights
        layers.append(entry)
    description = {"format": FORMAT, "version": VERSION,
                   "input": {"shape": list(input_shape), "in_bits": in_bits}, "layers": layers}
    return build_network(description, arrays, "trained network")
