"""The conv and linear layers of the built-in networks (ImageNet shapes), for benchmarks,
the energy model and the scaled-down correctness runs.

Only shapes live here: a benchmark draws random ternary weights for them
(:func:`random_layer_for`); a trained network comes as a network file instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import RtmapError
from ..sim.layer import Layer
from ..sim.random_layer import random_layer


@dataclass(frozen=True)
class LayerShape:
    """One layer (conv2d, linear, maxpool or add) and the input it sees (``height`` x
    ``width``; 1 x 1 for a linear layer). ``repeat``: how many layers of the network have
    exactly this shape. A maxpool's ``kernel`` is its window; an add of two C-channel tensors
    has ``in_channels`` 2C."""

    name: str
    kind: str
    out_channels: int
    in_channels: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    height: int = 1
    width: int = 1
    repeat: int = 1

    @property
    def out_height(self) -> int:
        return (self.height + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_width(self) -> int:
        return (self.width + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def positions(self) -> int:
        """Output positions per image: the rows the layer runs across."""
        return self.out_height * self.out_width

    @property
    def weights(self) -> int:
        """Ternary weights: none for a max-pool or an add."""
        if self.kind in ("maxpool", "add"):
            return 0
        return self.out_channels * self.in_channels * self.kernel ** 2

    def scaled(self, size: int) -> LayerShape:
        """The same channels and kernel on an input of at most ``size`` x ``size``."""
        return replace(self, height=min(self.height, size), width=min(self.width, size))


def _conv(name, k, c, kernel, stride, size, repeat=1) -> LayerShape:
    return LayerShape(name, "conv2d", k, c, kernel, stride, kernel // 2, size, size, repeat)


def _linear(name, k, c) -> LayerShape:
    return LayerShape(name, "linear", k, c)


def _maxpool(name, c, window, stride, padding, size) -> LayerShape:
    return LayerShape(name, "maxpool", c, c, window, stride, padding, size, size)


def _add(name, c, size, repeat) -> LayerShape:
    """A residual add: the block's output plus its shortcut, both C channels."""
    return LayerShape(name, "add", c, 2 * c, 1, 1, 0, size, size, repeat)


def resnet18() -> list[LayerShape]:
    """ResNet-18 on 224 x 224: every conv (residual branches and 1x1 downsamples), the
    max-pool, the eight residual adds and the fc (the global average pool before the fc is
    not a layer kind of ours)."""
    return [
        _conv("conv1", 64, 3, 7, 2, 224),
        _maxpool("pool1", 64, 3, 2, 1, 112),
        _conv("conv2_x", 64, 64, 3, 1, 56, repeat=4),
        _add("add2", 64, 56, repeat=2),
        _conv("conv3_1", 128, 64, 3, 2, 56),
        _conv("conv3_x", 128, 128, 3, 1, 28, repeat=3),
        _conv("conv3_ds", 128, 64, 1, 2, 56),
        _add("add3", 128, 28, repeat=2),
        _conv("conv4_1", 256, 128, 3, 2, 28),
        _conv("conv4_x", 256, 256, 3, 1, 14, repeat=3),
        _conv("conv4_ds", 256, 128, 1, 2, 28),
        _add("add4", 256, 14, repeat=2),
        _conv("conv5_1", 512, 256, 3, 2, 14),
        _conv("conv5_x", 512, 512, 3, 1, 7, repeat=3),
        _conv("conv5_ds", 512, 256, 1, 2, 14),
        _add("add5", 512, 7, repeat=2),
        _linear("fc", 1000, 512),
    ]


def vgg16() -> list[LayerShape]:
    """VGG-16 on 224 x 224: thirteen 3x3 convs, five 2x2 max-pools and three fully
    connected layers."""
    return [
        _conv("conv1_1", 64, 3, 3, 1, 224),
        _conv("conv1_2", 64, 64, 3, 1, 224),
        _maxpool("pool1", 64, 2, 2, 0, 224),
        _conv("conv2_1", 128, 64, 3, 1, 112),
        _conv("conv2_2", 128, 128, 3, 1, 112),
        _maxpool("pool2", 128, 2, 2, 0, 112),
        _conv("conv3_1", 256, 128, 3, 1, 56),
        _conv("conv3_x", 256, 256, 3, 1, 56, repeat=2),
        _maxpool("pool3", 256, 2, 2, 0, 56),
        _conv("conv4_1", 512, 256, 3, 1, 28),
        _conv("conv4_x", 512, 512, 3, 1, 28, repeat=2),
        _maxpool("pool4", 512, 2, 2, 0, 28),
        _conv("conv5_x", 512, 512, 3, 1, 14, repeat=3),
        _maxpool("pool5", 512, 2, 2, 0, 14),
        _linear("fc6", 4096, 25088),
        _linear("fc7", 4096, 4096),
        _linear("fc8", 1000, 4096),
    ]


NETWORKS = {"resnet18": resnet18, "vgg16": vgg16}


def random_layer_for(shape: LayerShape, rng: np.random.Generator,
                     zero_fraction: float = 0.4, in_bits: int = 4,
                     levels: int | None = None) -> Layer:
    """Random ternary weights (``zero_fraction`` zeros) of ``shape``; with ``levels``,
    random thresholds for that many output levels (not for a max-pool)."""
    if shape.kind == "maxpool":
        return random_layer(rng, kind="maxpool", in_channels=shape.in_channels,
                            kernel=(shape.kernel, shape.kernel), stride=shape.stride,
                            padding=shape.padding, in_bits=in_bits)
    if shape.kind == "add":
        return random_layer(rng, kind="add", out_channels=shape.out_channels,
                            in_bits=in_bits, thresholds_levels=levels)
    common = {"out_channels": shape.out_channels, "in_channels": shape.in_channels,
              "in_bits": in_bits, "zero_fraction": zero_fraction, "thresholds_levels": levels}
    if shape.kind == "linear":
        return random_layer(rng, kind="linear", **common)
    return random_layer(rng, kind="conv2d", kernel=(shape.kernel, shape.kernel),
                        stride=shape.stride, padding=shape.padding, **common)


def network_file_shapes(network) -> tuple[list[LayerShape], list[Layer]]:
    """The layers of a network file (:class:`rtmap.sim.network.Network`) that run on the
    processor, as shapes (one image each) beside the layers themselves; a flatten moves
    nothing and is left out."""
    shapes, layers = [], []
    for step in network.steps:
        if step.layer is None:
            continue
        layer = step.layer
        kh, kw = layer.kernel
        if kh != kw:
            raise RtmapError(f"{network.source}: layer {step.name!r} has a {kh}x{kw} kernel; the "
                             "energy model takes square kernels")
        height, width = step.in_shape[1:] if len(step.in_shape) == 3 else (1, 1)
        shapes.append(LayerShape(step.name, step.kind, layer.out_channels,
                                 layer.weights.shape[1] if layer.weights is not None
                                 else layer.in_channels, kh, layer.stride, layer.padding,
                                 height, width))
        layers.append(layer)
    return shapes, layers
