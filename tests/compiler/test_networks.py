"""Built-in network shapes against the published parameter counts and feature-map sizes."""

import numpy as np
import pytest

from rtmap.compiler.networks import NETWORKS, random_layer_for, resnet18, vgg16
from rtmap.sim.golden import run_layer


def total_weights(shapes):
    return sum(s.weights * s.repeat for s in shapes)


def test_resnet18_has_its_published_weights_and_feature_maps():
    # torchvision resnet18: 11,689,512 parameters = weights + 1,000 fc biases + 9,600
    # batch-norm scales and shifts.
    assert total_weights(resnet18()) == 11_689_512 - 1_000 - 9_600
    count = {kind: sum(s.repeat for s in resnet18() if s.kind == kind)
             for kind in ("conv2d", "linear", "maxpool", "add")}
    assert count == {"conv2d": 20, "linear": 1, "maxpool": 1, "add": 8}  # 3 downsamples
    pools = {s.name: (s.out_channels, s.out_height) for s in resnet18() if s.kind != "conv2d"}
    assert pools["pool1"] == (64, 56) and pools["add2"] == (64, 56) and pools["add5"] == (512, 7)
    out = {s.name: (s.out_channels, s.out_height) for s in resnet18() if s.kind == "conv2d"}
    assert out["conv1"] == (64, 112) and out["conv2_x"] == (64, 56)
    assert out["conv3_1"] == out["conv3_ds"] == (128, 28)
    assert out["conv5_1"] == out["conv5_x"] == out["conv5_ds"] == (512, 7)


def test_vgg16_has_its_published_weights():
    # torchvision vgg16: 138,357,544 parameters, of which 13,416 are biases.
    assert total_weights(vgg16()) == 138_357_544 - 13_416
    assert sum(s.repeat for s in vgg16() if s.kind in ("conv2d", "linear")) == 16
    pools = [(s.out_channels, s.out_height) for s in vgg16() if s.kind == "maxpool"]
    assert pools == [(64, 112), (128, 56), (256, 28), (512, 14), (512, 7)]


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_scaled_random_layers_run_on_the_golden_model(network):
    rng = np.random.default_rng(1)
    for shape in NETWORKS[network]():
        if shape.kind == "linear":
            continue
        small = shape.scaled(3)
        layer = random_layer_for(small, rng, levels=None if shape.kind == "maxpool" else 3)
        assert (layer.kind, layer.in_channels, layer.out_channels, layer.kernel) == \
            (shape.kind, shape.in_channels, shape.out_channels, (shape.kernel, shape.kernel))
        if shape.kind == "conv2d":
            assert np.mean(layer.weights == 0) == pytest.approx(0.4, abs=0.05)
        x = rng.integers(0, 16, (shape.in_channels, small.height, small.width))
        y = run_layer(layer, x)
        assert y.shape == (shape.out_channels, small.out_height, small.out_width)


@pytest.mark.parametrize("name", ["conv1", "conv2_x", "conv3_ds", "pool1", "add3"])
def test_resnet18_shapes_scaled_down_run_exactly_on_the_simulator(name):
    """bench/bench_networks.py does this for every shape; CI does the quicker ones."""
    from rtmap.params import MachineParams
    from rtmap.run import run_layer as run_on

    shape = next(s for s in resnet18() if s.name == name).scaled(3)
    rng = np.random.default_rng(len(name))
    layer = random_layer_for(shape, rng, levels=7 if name in ("conv2_x", "add3") else None)
    x = rng.integers(0, 16, (shape.in_channels, shape.height, shape.width)).astype(np.uint8)
    params = MachineParams(rows=16, tracks=96, domains=20, program_depth=1 << 18)
    np.testing.assert_array_equal(run_on(layer, x, "sim", params).output, run_layer(layer, x))
