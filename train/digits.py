"""Train the handwritten-digits TWN and write it as an rtmap network.

The data is scikit-learn's digits (1,797 images of 8 x 8 pixels valued 0..16, shipped inside
the package, so nothing is downloaded). Pixels become 4-bit levels, round(15 p / 16). The
split is a fixed stratified 80/20. The network::

    conv 3x3, 1 -> 16, pad 1   ternary, batch norm, 4-bit ReLU     8x8
    max-pool 2x2                                                   4x4
    conv 3x3, 16 -> 32, pad 1  ternary, batch norm, 4-bit ReLU     4x4
    max-pool 2x2                                                   2x2
    flatten                                                        128
    linear 128 -> 32           ternary, batch norm, 4-bit ReLU
    linear 32 -> 10            ternary, raw sums (the class is the largest)

``python -m rtmap.train.digits -o models/digits`` writes ``digits_twn.npz`` (the integer
network, for ``rtmap run-network``) and ``digits_fakequant.npz`` (the float parameters, to
recompute the fake-quant network's accuracy).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import RtmapError
from .fold import to_network
from .qat import (
    Adam,
    BatchNorm,
    Flatten,
    MaxPool,
    QuantReLU,
    Scale,
    Sequential,
    TernaryConv,
    TernaryLinear,
    softmax_cross_entropy,
)

IN_BITS = 4
INPUT_SHAPE = (1, 8, 8)
NAMES = ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2"]
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels); images uint8 (N, 1, 8, 8) in
    0..15."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.round(digits.images * 15 / 16).astype(np.uint8)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target)
    return x_train, y_train, x_test, y_test


def build_model(rng: np.random.Generator) -> Sequential:
    relu = QuantReLU(IN_BITS)
    return Sequential([
        TernaryConv(rng, 16, 1, 3, 1), BatchNorm(16), relu,
        MaxPool(2),
        TernaryConv(rng, 32, 16, 3, 1), BatchNorm(32), QuantReLU(IN_BITS),
        MaxPool(2),
        Flatten(),
        TernaryLinear(rng, 32, 128), BatchNorm(32), QuantReLU(IN_BITS),
        TernaryLinear(rng, 10, 32), Scale(0.1),
    ])


def state(model: Sequential) -> dict[str, np.ndarray]:
    """Every float the model holds, by ``<layer index>.<name>``."""
    saved = {}
    for index, layer in enumerate(model.layers):
        for name in ("w", "gamma", "beta", "log_scale"):
            if hasattr(layer, name):
                saved[f"{index}.{name}"] = getattr(layer, name).value
        if isinstance(layer, BatchNorm):
            saved[f"{index}.mean"], saved[f"{index}.var"] = layer.mean, layer.var
    return saved


def load_state(model: Sequential, saved) -> Sequential:
    expected = state(model)
    if set(saved) != set(expected):
        raise RtmapError("the float parameters do not fit this network (they have "
                         f"{sorted(saved)}, it needs {sorted(expected)})")
    for key, value in saved.items():
        index, name = key.split(".")
        layer = model.layers[int(index)]
        if np.shape(value) != expected[key].shape:
            raise RtmapError(f"float parameter {key} has shape {np.shape(value)}, expected "
                             f"{expected[key].shape}")
        if name in ("mean", "var"):
            setattr(layer, name, np.asarray(value, np.float64))
        else:
            getattr(layer, name).value = np.asarray(value, np.float64)
    return model


def predict(model: Sequential, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """The fake-quant network's classes (evaluation mode: running batch-norm statistics)."""
    return np.concatenate([model.forward(images[i:i + batch].astype(np.float64)).argmax(axis=1)
                           for i in range(0, len(images), batch)])


def train(seed: int = 0, epochs: int = 60, batch: int = 64, lr: float = 5e-3,
          log=print) -> Sequential:
    x_train, y_train, x_test, y_test = load_digits_split()
    rng = np.random.default_rng(seed)
    model = build_model(rng)
    optimiser = Adam(model.params(), lr=lr)
    for epoch in range(epochs):
        if epoch == epochs * 2 // 3:
            optimiser.lr = lr / 10
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            logits = model.forward(x_train[chosen].astype(np.float64), train=True)
            loss, grad = softmax_cross_entropy(logits, y_train[chosen])
            model.backward(grad)
            optimiser.step()
            losses.append(loss)
        if epoch % 10 == 9 or epoch == epochs - 1:
            accuracy = (predict(model, x_test) == y_test).mean()
            log(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, test accuracy {accuracy:.4f}")
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="models/digits", help="directory to write to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    from ..sim.network import save_network

    model = train(args.seed, args.epochs)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    network = to_network(model, INPUT_SHAPE, IN_BITS, NAMES)
    save_network(network, out / "digits_twn.npz")
    np.savez(out / "digits_fakequant.npz", **state(model))
    print(f"wrote {out / 'digits_twn.npz'} and {out / 'digits_fakequant.npz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
