"""Quantisation-aware training of a ternary-weight network, in plain NumPy.

Just enough of a framework for the small networks we train: layers with a forward and a
hand-written backward, Adam, softmax cross-entropy. The quantisers are the ones the
processor implies, with straight-through gradients:

* weights are ternary, ``sign(w) * (|w| > 0.7 mean|w|)`` (Li & Liu's TWN threshold), and the
  layer computes with those integers, so its accumulator is exactly the processor's; the
  per-channel scale a TWN would multiply by is left to the batch norm that follows;
* activations are ``clip(floor(z + 0.5), 0, 2**bits - 1)`` of the batch-normed accumulator:
  integer levels, which :mod:`rtmap.train.fold` turns into integer thresholds.

Every layer keeps what its backward needs from the last forward; one network, one thread.
"""

from __future__ import annotations

import numpy as np

TWN_DELTA = 0.7  # Li & Liu, "Ternary Weight Networks" (2016): threshold 0.7 * mean |w|
BN_EPS = 1e-5
BN_MOMENTUM = 0.1


def ternarize(w: np.ndarray) -> np.ndarray:
    """The ternary weights (int8 in {-1, 0, 1}) a latent float tensor stands for."""
    delta = TWN_DELTA * np.abs(w).mean()
    return (np.sign(w) * (np.abs(w) > delta)).astype(np.int8)


def windows(x: np.ndarray, kernel: int, padding: int) -> np.ndarray:
    """(N, C, H, W) -> (N, OH, OW, C * K * K), stride 1: the receptive field of every
    position, in the (C, KH, KW) order of a conv2d weight."""
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    view = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(2, 3))
    n, c, oh, ow = view.shape[:4]
    return view.transpose(0, 2, 3, 1, 4, 5).reshape(n, oh, ow, c * kernel * kernel)


class Param:
    def __init__(self, value: np.ndarray):
        self.value = value.astype(np.float64)
        self.grad = np.zeros_like(self.value)


class TernaryConv:
    """conv2d, stride 1, with ternary weights (K, C, KH, KW)."""

    def __init__(self, rng, out_channels: int, in_channels: int, kernel: int, padding: int):
        fan_in = in_channels * kernel * kernel
        self.w = Param(rng.normal(0, 1 / np.sqrt(fan_in), (out_channels, in_channels, kernel,
                                                           kernel)))
        self.kernel, self.padding = kernel, padding

    def params(self):
        return [self.w]

    def forward(self, x, train):
        self.cols = windows(x, self.kernel, self.padding)  # (N, OH, OW, CKK)
        self.x_shape = x.shape
        wt = ternarize(self.w.value).reshape(len(self.w.value), -1).astype(np.float64)
        self.wt = wt
        return (self.cols @ wt.T).transpose(0, 3, 1, 2)  # (N, K, OH, OW)

    def backward(self, grad):
        g = grad.transpose(0, 2, 3, 1)  # (N, OH, OW, K)
        # Straight through the ternariser: the latent weights get the ternary ones' gradient.
        self.w.grad += np.einsum("nhwk,nhwc->kc", g, self.cols).reshape(self.w.value.shape)
        dcols = g @ self.wt  # (N, OH, OW, CKK)
        n, c, h, w = self.x_shape
        k, p = self.kernel, self.padding
        dcols = dcols.reshape(n, h, w, c, k, k)
        dx = np.zeros((n, c, h + 2 * p, w + 2 * p))
        for i in range(k):
            for j in range(k):
                dx[:, :, i:i + h, j:j + w] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
        return dx[:, :, p:p + h, p:p + w]


class TernaryLinear:
    def __init__(self, rng, out_features: int, in_features: int):
        self.w = Param(rng.normal(0, 1 / np.sqrt(in_features), (out_features, in_features)))

    def params(self):
        return [self.w]

    def forward(self, x, train):
        self.x = x
        self.wt = ternarize(self.w.value).astype(np.float64)
        return x @ self.wt.T

    def backward(self, grad):
        self.w.grad += grad.T @ self.x
        return grad @ self.wt


class BatchNorm:
    """Per-channel batch norm over every axis but 1; running statistics for evaluation."""

    def __init__(self, channels: int):
        self.gamma = Param(np.ones(channels))
        self.beta = Param(np.zeros(channels))
        self.mean = np.zeros(channels)
        self.var = np.ones(channels)

    def params(self):
        return [self.gamma, self.beta]

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def forward(self, x, train):
        axes = (0, *range(2, x.ndim))
        if train:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            self.mean = (1 - BN_MOMENTUM) * self.mean + BN_MOMENTUM * mean
            self.var = (1 - BN_MOMENTUM) * self.var + BN_MOMENTUM * var
        else:
            mean, var = self.mean, self.var
        shape = self._shape(x)
        self.inv = (1 / np.sqrt(var + BN_EPS)).reshape(shape)
        self.xhat = (x - mean.reshape(shape)) * self.inv
        return self.gamma.value.reshape(shape) * self.xhat + self.beta.value.reshape(shape)

    def backward(self, grad):
        axes = (0, *range(2, grad.ndim))
        shape = self._shape(grad)
        self.gamma.grad += (grad * self.xhat).sum(axis=axes)
        self.beta.grad += grad.sum(axis=axes)
        dxhat = grad * self.gamma.value.reshape(shape)
        count = grad.size // grad.shape[1]
        return self.inv / count * (count * dxhat - dxhat.sum(axis=axes).reshape(shape)
                                   - self.xhat * (dxhat * self.xhat).sum(axis=axes)
                                   .reshape(shape))

    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """(g, b) with bn(acc) = g * acc + b, from the running statistics."""
        g = self.gamma.value / np.sqrt(self.var + BN_EPS)
        return g, self.beta.value - g * self.mean


class QuantReLU:
    """Unsigned ``bits``-bit levels: clip(floor(z + 0.5), 0, 2**bits - 1)."""

    def __init__(self, bits: int):
        self.high = (1 << bits) - 1

    def params(self):
        return []

    def forward(self, z, train):
        self.passes = (z > -0.5) & (z < self.high + 0.5)
        return np.clip(np.floor(z + 0.5), 0, self.high)

    def backward(self, grad):
        return grad * self.passes


class MaxPool:
    """Non-overlapping ``size`` x ``size`` max-pool (H and W divisible by ``size``)."""

    def __init__(self, size: int):
        self.size = size

    def params(self):
        return []

    def forward(self, x, train):
        n, c, h, w = x.shape
        s = self.size
        blocks = x.reshape(n, c, h // s, s, w // s, s)
        out = blocks.max(axis=(3, 5))
        # The first maximum of each window takes the gradient.
        flat = blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // s, w // s, s * s)
        self.winner = flat.argmax(axis=-1)
        self.x_shape = x.shape
        return out

    def backward(self, grad):
        n, c, h, w = self.x_shape
        s = self.size
        flat = np.zeros((n, c, h // s, w // s, s * s))
        np.put_along_axis(flat, self.winner[..., None], grad[..., None], axis=-1)
        return flat.reshape(n, c, h // s, w // s, s, s).transpose(0, 1, 2, 4, 3, 5) \
            .reshape(n, c, h, w)


class Flatten:
    def params(self):
        return []

    def forward(self, x, train):
        self.x_shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad):
        return grad.reshape(self.x_shape)


class Scale:
    """Logits = exp(log_scale) * accumulator: a positive scale, so the integer network's
    largest accumulator is the float network's largest logit."""

    def __init__(self, scale: float):
        self.log_scale = Param(np.array(np.log(scale)))

    def params(self):
        return [self.log_scale]

    def forward(self, x, train):
        self.x = x
        self.scale = float(np.exp(self.log_scale.value))
        return self.scale * x

    def backward(self, grad):
        self.log_scale.grad += self.scale * (grad * self.x).sum()
        return self.scale * grad


class Sequential:
    def __init__(self, layers):
        self.layers = list(layers)

    def params(self):
        return [p for layer in self.layers for p in layer.params()]

    def forward(self, x, train=False):
        for layer in self.layers:
            x = layer.forward(x, train)
        return x

    def backward(self, grad):
        for layer in reversed(self.layers):
            grad = layer.backward(grad)


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = -np.log(probs[np.arange(n), labels] + 1e-12).mean()
    probs[np.arange(n), labels] -= 1
    return float(loss), probs / n


class Adam:
    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [np.zeros_like(p.value) for p in params]
        self.v = [np.zeros_like(p.value) for p in params]
        self.t = 0

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * p.grad
            v *= b2
            v += (1 - b2) * p.grad ** 2
            p.value -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t))
                                                             + self.eps)
            p.grad[...] = 0
