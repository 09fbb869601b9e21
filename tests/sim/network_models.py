"""A random small network and an independent NumPy model of a whole chain of layers, shared
by the network-format and CLI tests."""

import numpy as np

from rtmap.sim.network import FORMAT, VERSION


def random_network(rng, levels=7, residual=True):
    """conv -> maxpool -> conv (-> add of the pool's output) -> flatten -> linear -> linear,
    random ternary weights and sorted thresholds, on 2 x 6 x 6 inputs of 3 bits."""
    def thresholds(k, fan_in):
        return np.sort(rng.integers(-fan_in, fan_in + 1, (k, levels)), axis=1)

    layers = [{"name": "c1", "kind": "conv2d", "stride": 1, "padding": 1},
              {"name": "p1", "kind": "maxpool", "pool": [2, 2], "stride": 2},
              {"name": "c2", "kind": "conv2d", "padding": 1}]
    arrays = {"c1.weights": rng.integers(-1, 2, (3, 2, 3, 3)), "c1.thresholds": thresholds(3, 9),
              "c2.weights": rng.integers(-1, 2, (3, 3, 3, 3)), "c2.thresholds": thresholds(3, 20)}
    if residual:
        layers.append({"name": "res", "kind": "add", "from": "p1"})
        arrays["res.thresholds"] = thresholds(3, 10) + 5
    layers += [{"name": "flat", "kind": "flatten"}, {"name": "fc1", "kind": "linear"},
               {"name": "fc2", "kind": "linear"}]
    arrays.update({"fc1.weights": rng.integers(-1, 2, (5, 27)), "fc1.thresholds": thresholds(5, 20),
                   "fc2.weights": rng.integers(-1, 2, (4, 5))})
    description = {"format": FORMAT, "version": VERSION,
                   "input": {"shape": [2, 6, 6], "in_bits": 3}, "layers": layers}
    return description, arrays


def reference(description, arrays, x):
    """The chain computed directly: loops over positions, no rtmap code."""
    def levels(acc, t):  # acc (N, K, ...) against t (K, L)
        shape = (1, t.shape[0]) + (1,) * (acc.ndim - 2) + (t.shape[1],)
        return (acc[..., None] >= t.reshape(shape)).sum(-1)

    def conv(x, w, pad):
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        n, _, h, wd = x.shape
        k, _, kh, kw = w.shape
        out = np.zeros((n, k, h - kh + 1, wd - kw + 1), np.int64)
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                out[:, :, i, j] = np.einsum("ncij,kcij->nk", x[:, :, i:i + kh, j:j + kw], w)
        return out

    outputs, current = {"input": x.astype(np.int64)}, x.astype(np.int64)
    for layer in description["layers"]:
        name, kind = layer["name"], layer["kind"]
        if kind == "conv2d":
            current = conv(current, arrays[f"{name}.weights"], layer.get("padding", 0))
        elif kind == "maxpool":
            n, c, h, w = current.shape
            current = current.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
        elif kind == "add":
            current = current + outputs[layer["from"]]
        elif kind == "flatten":
            current = current.reshape(len(current), -1)
        else:
            current = current @ arrays[f"{name}.weights"].T
        if f"{name}.thresholds" in arrays:
            current = levels(current, arrays[f"{name}.thresholds"])
        outputs[name] = current
    return current
