"""Quantisation-aware training pieces and the fold into an integer network: gradients against
finite differences, thresholds against the float quantiser, and the folded network against the
fake-quant network it came from."""

import numpy as np
import pytest

from rtmap.errors import RtmapError
from rtmap.run import run_network
from rtmap.train import qat
from rtmap.train.fold import fold_thresholds, to_network


def numeric_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = f()
        x[index] = saved - eps
        down = f()
        x[index] = saved
        grad[index] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("layer_name", ["conv", "linear", "batchnorm", "maxpool"])
def test_backward_matches_finite_differences(layer_name):
    rng = np.random.default_rng(3)
    layer, x = {
        "conv": (qat.TernaryConv(rng, 3, 2, 3, 1), rng.normal(size=(2, 2, 4, 4))),
        "linear": (qat.TernaryLinear(rng, 3, 5), rng.normal(size=(4, 5))),
        "batchnorm": (qat.BatchNorm(3), rng.normal(size=(4, 3, 2, 2))),
        "maxpool": (qat.MaxPool(2), rng.normal(size=(2, 2, 4, 4))),
    }[layer_name]
    if layer_name == "batchnorm":
        layer.gamma.value = rng.normal(size=3)
        layer.beta.value = rng.normal(size=3)
    probe = rng.normal(size=layer.forward(x, True).shape)  # loss = sum(probe * out)
    layer.forward(x, True)
    dx = layer.backward(probe)
    expected = numeric_gradient(lambda: float((probe * layer.forward(x, True)).sum()), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-5, atol=1e-6)
    if layer_name == "batchnorm":
        for param in (layer.gamma, layer.beta):
            param.grad[...] = 0
            layer.forward(x, True)
            layer.backward(probe)
            numeric = numeric_gradient(
                lambda: float((probe * layer.forward(x, True)).sum()), param.value)
            np.testing.assert_allclose(param.grad, numeric, rtol=1e-5, atol=1e-6)


def test_folded_thresholds_count_the_float_quantiser_levels():
    rng = np.random.default_rng(0)
    k, levels = 40, 15
    g = rng.normal(size=k) * rng.choice([0.01, 0.3, 3.0], size=k)
    g[:3] = 0.0  # a dead channel: its level is a constant
    b = rng.normal(size=k) * 8
    weights = rng.integers(-1, 2, (k, 6)).astype(np.int8)
    acc = rng.integers(-300, 301, (500, k))
    folded, thresholds = fold_thresholds(weights, g, b, levels)
    flipped = g < 0
    np.testing.assert_array_equal(folded[flipped], -weights[flipped])
    np.testing.assert_array_equal(folded[~flipped], weights[~flipped])
    assert thresholds.dtype == np.int32
    assert (np.diff(thresholds.astype(np.int64), axis=1) >= 0).all()
    # The processor computes acc with the folded weights: negated where g < 0.
    processor_acc = np.where(flipped, -acc, acc)
    reached = (processor_acc[:, :, None] >= thresholds[None]).sum(-1)
    expected = np.clip(np.floor(g * acc + b + 0.5), 0, levels)
    np.testing.assert_array_equal(reached, expected)


def small_model(rng):
    relu = qat.QuantReLU(3)
    return qat.Sequential([
        qat.TernaryConv(rng, 4, 2, 3, 1), qat.BatchNorm(4), relu, qat.MaxPool(2),
        qat.Flatten(), qat.TernaryLinear(rng, 6, 16), qat.BatchNorm(6), qat.QuantReLU(3),
        qat.TernaryLinear(rng, 5, 6), qat.Scale(0.3)])


@pytest.mark.parametrize("seed", range(3))
def test_the_folded_network_computes_what_the_fake_quant_network_does(seed):
    rng = np.random.default_rng(seed)
    model = small_model(rng)
    x = rng.integers(0, 8, (64, 2, 4, 4)).astype(np.float64)
    model.forward(x, train=True)  # running statistics of a batch, then random affine params
    for layer in model.layers:
        if isinstance(layer, qat.BatchNorm):
            layer.gamma.value = rng.normal(size=layer.gamma.value.shape) * 2
            layer.beta.value = rng.normal(size=layer.beta.value.shape) * 3 + 2
    network = to_network(model, (2, 4, 4), 3)
    logits = model.forward(x)
    acc = run_network(network, x.astype(np.uint8)).output
    # The last layer's logits are its raw accumulators times a positive scale.
    np.testing.assert_allclose(logits, acc * model.layers[-1].scale, rtol=1e-12)
    np.testing.assert_array_equal(logits.argmax(axis=1), acc.argmax(axis=1))


def test_a_model_that_does_not_fold_is_a_one_line_error():
    rng = np.random.default_rng(0)
    model = qat.Sequential([qat.Flatten(), qat.TernaryLinear(rng, 3, 4), qat.QuantReLU(3)])
    with pytest.raises(RtmapError, match=r"^cannot fold layer1: a ternary layer must be "
                       r"followed by a batch norm and a quantised ReLU, or be the last layer "
                       r"with a scale$"):
        to_network(model, (1, 2, 2), 3)


def test_training_lowers_the_loss_on_a_separable_problem():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 8, (256, 6)).astype(np.float64)
    labels = (x[:, 0] + x[:, 1] > x[:, 2] + x[:, 3]).astype(int)
    model = qat.Sequential([qat.TernaryLinear(rng, 16, 6), qat.BatchNorm(16), qat.QuantReLU(3),
                            qat.TernaryLinear(rng, 2, 16), qat.Scale(0.3)])
    optimiser = qat.Adam(model.params(), lr=1e-2)
    first = None
    for _ in range(150):
        loss, grad = qat.softmax_cross_entropy(model.forward(x, train=True), labels)
        first = loss if first is None else first
        model.backward(grad)
        optimiser.step()
    assert loss < first / 2
    assert (model.forward(x).argmax(axis=1) == labels).mean() > 0.8
