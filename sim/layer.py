"""A TWN layer as DESIGN.md defines it, its `.npz` file format, and validation of inputs.

Every check raises :class:`RtmapError` with one line naming the problem and where it is
(the file, the index, the dimension), so the CLI can print it as it is.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RtmapError

KINDS = ("conv2d", "linear", "maxpool", "add")
SPATIAL = ("conv2d", "maxpool", "add")  # inputs (C, H, W) or (N, C, H, W)
MAX_IN_BITS = 8  # inputs are uint8
MAX_LEVELS = 255  # thresholded outputs are uint8 values 0..L
FILE_KEYS = ("kind", "weights", "stride", "padding", "in_bits", "thresholds", "pool",
             "channels")
INT32 = np.iinfo(np.int32)


def _index(position) -> str:
    return ", ".join(str(int(i)) for i in position)


def _integer_array(values, what: str, where: str) -> np.ndarray:
    """``values`` as int64, refusing fractions, NaN and non-numbers."""
    array = np.asarray(values)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise RtmapError(f"{where}: {what} has dtype {array.dtype}, not integers")
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            position = np.argwhere(bad)[0]
            raise RtmapError(f"{where}: {what}[{_index(position)}] = {array[tuple(position)]} "
                             "is not an integer")
    return array.astype(np.int64)


def _scalar(value, name: str, low: int, high: int, where: str) -> int:
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.integer) or array.dtype == bool:
        raise RtmapError(f"{where}: {name} must be one integer, got {value!r}")
    number = int(array)
    if not low <= number <= high:
        raise RtmapError(f"{where}: {name}={number} is out of range {low}..{high}")
    return number


@dataclass(frozen=True, eq=False)
class Layer:
    """A TWN layer; validated on construction.

    kind:       conv2d or linear (ternary weights); maxpool, or add (a residual add).
    weights:    int8 in {-1, 0, 1}; conv2d (K, C, KH, KW), linear (K, C). None for maxpool
                and add (an add's weights are derived: output c = input c + input C + c).
    stride, padding: conv2d and maxpool only (zero padding on every side; maxpool inputs
                are unsigned, so a zero never wins over a real value).
    pool:       maxpool only: the window (KH, KW); output c = the window's largest input c.
    channels:   maxpool and add only: C, the output channels (an add takes 2C inputs: two
                C-channel tensors stacked along the channel axis).
    in_bits:    unsigned input activation width.
    thresholds: optional int32 (K, L), non-decreasing along L; output k is the number of
                thresholds[k] the accumulator (or sum) reaches (0..L), else the raw int32
                value. Not for maxpool (its outputs are inputs, in_bits wide).
    """

    kind: str
    weights: np.ndarray | None = None
    stride: int = 1
    padding: int = 0
    in_bits: int = 4
    thresholds: np.ndarray | None = None
    source: str = "layer"  # where it came from, for error messages
    pool: tuple[int, int] | None = None
    channels: int | None = None

    def __post_init__(self) -> None:
        where = self.source
        if self.kind not in KINDS:
            raise RtmapError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        set_field = object.__setattr__  # frozen: normalise the fields once, here
        if self.kind in ("maxpool", "add"):
            self._check_weightless(where)
        else:
            for name in ("pool", "channels"):
                if getattr(self, name) is not None:
                    raise RtmapError(f"{where}: {name} applies to maxpool/add layers, not "
                                     f"{self.kind}")
            set_field(self, "weights", _check_weights(self.kind, self.weights, where))
        set_field(self, "in_bits", _scalar(self.in_bits, "in_bits", 1, MAX_IN_BITS, where))
        if self.kind in ("conv2d", "maxpool"):
            set_field(self, "stride", _scalar(self.stride, "stride", 1, 1 << 16, where))
            set_field(self, "padding", _scalar(self.padding, "padding", 0, 1 << 16, where))
        else:
            stride = _scalar(self.stride, "stride", 0, 1 << 16, where)
            padding = _scalar(self.padding, "padding", 0, 1 << 16, where)
            if (stride, padding) != (1, 0):
                raise RtmapError(f"{where}: stride={stride}, padding={padding} given, but "
                                 "stride and padding apply to conv2d and maxpool only")
            set_field(self, "stride", stride)  # plain ints, whatever the file held
            set_field(self, "padding", padding)
        if self.thresholds is not None:
            set_field(self, "thresholds",
                      _check_thresholds(self.thresholds, self.out_channels, where))

    def _check_weightless(self, where: str) -> None:
        set_field = object.__setattr__
        if self.weights is not None:
            raise RtmapError(f"{where}: {self.kind} layers have no weights")
        set_field(self, "channels", _scalar(self.channels, "channels", 1, 1 << 16, where))
        if self.kind == "maxpool":
            if self.thresholds is not None:
                raise RtmapError(f"{where}: a maxpool layer takes no thresholds (its outputs "
                                 "are its inputs)")
            pool = np.asarray(self.pool if self.pool is not None else ())
            if pool.shape != (2,) or not np.issubdtype(pool.dtype, np.integer) \
                    or (pool < 1).any() or (pool > 1 << 8).any():
                raise RtmapError(f"{where}: maxpool needs pool = (KH, KW), two integers in "
                                 f"1..256, got {self.pool!r}")
            set_field(self, "pool", (int(pool[0]), int(pool[1])))
        else:
            if self.pool is not None:
                raise RtmapError(f"{where}: pool applies to maxpool layers, not add")
            # output c = input c + input C + c: a 1x1 conv with two identity blocks, which is
            # how the compiler sees it (the golden model adds the two halves directly).
            eye = np.eye(self.channels, dtype=np.int8)
            set_field(self, "weights", np.concatenate([eye, eye], axis=1)[:, :, None, None])

    @property
    def spatial(self) -> bool:
        """Inputs are (C, H, W) or (N, C, H, W); else (C,) or (N, C)."""
        return self.kind in SPATIAL

    @property
    def out_channels(self) -> int:
        return self.channels if self.kind == "maxpool" else self.weights.shape[0]

    @property
    def in_channels(self) -> int:
        return self.channels if self.kind == "maxpool" else self.weights.shape[1]

    @property
    def kernel(self) -> tuple[int, int]:
        """(KH, KW): the weights' or the pool's; (1, 1) for linear and add."""
        if self.kind == "maxpool":
            return self.pool
        return tuple(self.weights.shape[2:]) if self.kind in ("conv2d", "add") else (1, 1)


def _check_weights(kind: str, weights, where: str) -> np.ndarray:
    array = _integer_array(weights, "weights", where)
    dims = "(K, C, KH, KW)" if kind == "conv2d" else "(K, C)"
    if array.ndim != len(dims.split(",")):
        raise RtmapError(f"{where}: {kind} weights must have shape {dims}, got shape "
                         f"{tuple(array.shape)}")
    if 0 in array.shape:
        raise RtmapError(f"{where}: weights shape {tuple(array.shape)} has an empty dimension")
    bad = np.argwhere((array < -1) | (array > 1))
    if len(bad):
        position = tuple(bad[0])
        raise RtmapError(f"{where}: weights[{_index(position)}] = {array[position]} is not "
                         "ternary (-1, 0, 1)")
    return array.astype(np.int8)


def _check_thresholds(thresholds, out_channels: int, where: str) -> np.ndarray:
    array = _integer_array(thresholds, "thresholds", where)
    if array.ndim != 2 or array.shape[0] != out_channels:
        raise RtmapError(f"{where}: thresholds must have shape (K, L) with K={out_channels} "
                         f"output channels, got shape {tuple(array.shape)}")
    if not 1 <= array.shape[1] <= MAX_LEVELS:
        raise RtmapError(f"{where}: thresholds have L={array.shape[1]} levels per channel; "
                         f"L must be 1..{MAX_LEVELS}")
    outside = np.argwhere((array < INT32.min) | (array > INT32.max))
    if len(outside):
        position = tuple(outside[0])
        raise RtmapError(f"{where}: thresholds[{_index(position)}] = {array[position]} does not "
                         "fit in int32")
    falls = np.argwhere(np.diff(array, axis=1) < 0)
    if len(falls):
        k, level = (int(i) for i in falls[0])
        raise RtmapError(f"{where}: thresholds[{k}] is not non-decreasing: thresholds[{k}, "
                         f"{level + 1}] = {array[k, level + 1]} < thresholds[{k}, {level}] = "
                         f"{array[k, level]}")
    return array.astype(np.int32)


def read_npz(path: Path, what: str) -> dict[str, np.ndarray]:
    """Every array of the `.npz` at ``path`` (a ``what`` file: "layer", "network"); a missing,
    unreadable or single-array file is a one-line error naming it."""
    where = path.name
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise RtmapError(f"{where}: not a .npz {what} file (it holds a single array)")
        with archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise RtmapError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise RtmapError(f"{where}: is a directory, not a .npz {what} file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise RtmapError(f"{where}: not a readable .npz {what} file ({exc})") from None


def load_layer(path) -> Layer:
    """Read and validate a layer `.npz` (keys: kind, weights, stride, padding, in_bits,
    thresholds)."""
    path = Path(path)
    where = path.name
    contents = read_npz(path, "layer")
    unknown = sorted(set(contents) - set(FILE_KEYS))
    if unknown:
        raise RtmapError(f"{where}: unknown entr{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(repr(k) for k in unknown)}; a layer has "
                         f"{', '.join(FILE_KEYS)}")
    if "kind" not in contents:
        raise RtmapError(f"{where}: missing 'kind'")
    kind = contents.pop("kind")
    if kind.ndim != 0 or kind.dtype.kind != "U":
        raise RtmapError(f"{where}: kind must be a string, got {kind!r}")
    if str(kind) in ("conv2d", "linear") and "weights" not in contents:
        raise RtmapError(f"{where}: missing 'weights'")
    return Layer(str(kind), contents.pop("weights", None), source=where, **contents)


def save_layer(layer: Layer, path) -> Path:
    path = Path(path)
    extra = {} if layer.thresholds is None else {"thresholds": layer.thresholds}
    if layer.kind in ("conv2d", "linear"):
        extra["weights"] = layer.weights
    else:  # an add's weights are derived, not stored
        extra["channels"] = np.array(layer.channels)
    if layer.kind == "maxpool":
        extra["pool"] = np.array(layer.pool)
    with open(path, "wb") as f:  # np.savez would append .npz to any other suffix
        np.savez(f, kind=np.array(layer.kind), stride=np.array(layer.stride),
                 padding=np.array(layer.padding), in_bits=np.array(layer.in_bits), **extra)
    return path


def load_input(path) -> np.ndarray:
    """Read an input `.npy` (validated against a layer by :func:`check_input`)."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RtmapError(f"{path.name}: no such file") from None
    except IsADirectoryError:
        raise RtmapError(f"{path.name}: is a directory, not a .npy input") from None
    except (OSError, ValueError, EOFError) as exc:
        raise RtmapError(f"{path.name}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise RtmapError(f"{path.name}: holds several arrays; an input is one .npy array")
    return array


def check_input(layer: Layer, x, where: str = "input") -> np.ndarray:
    """``x`` as a uint8 array after checking shape, channels and range against ``layer``."""
    array = np.asarray(x)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise RtmapError(f"{where}: input dtype {array.dtype} is not an integer type")
    shapes = ("(C, H, W) or (N, C, H, W)", (3, 4)) if layer.spatial else \
        ("(C,) or (N, C)", (1, 2))
    if array.ndim not in shapes[1]:
        raise RtmapError(f"{where}: {layer.kind} input must have shape {shapes[0]}, got shape "
                         f"{tuple(array.shape)}")
    if 0 in array.shape:
        raise RtmapError(f"{where}: input shape {tuple(array.shape)} has an empty dimension")
    channels = array.shape[0 if array.ndim == shapes[1][0] else 1]
    if channels != layer.in_channels:
        raise RtmapError(f"{where}: input has {channels} channels (shape "
                         f"{tuple(array.shape)}) but the layer expects C={layer.in_channels}")
    high = (1 << layer.in_bits) - 1
    bad = np.argwhere((array < 0) | (array > high))
    if len(bad):
        position = tuple(bad[0])
        raise RtmapError(f"{where}: input value {array[position]} at [{_index(position)}] is out "
                         f"of range 0..{high} for in_bits={layer.in_bits}")
    if layer.spatial:
        (kh, kw), p = layer.kernel, layer.padding
        h, w = array.shape[-2:]
        if h + 2 * p < kh or w + 2 * p < kw:
            raise RtmapError(f"{where}: input {h}x{w} with padding {p} is smaller than the "
                             f"{kh}x{kw} kernel")
    return array.astype(np.uint8)


def output_shape(layer: Layer, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The golden model's output shape for a checked input of ``input_shape``."""
    if layer.kind == "linear":
        return (*input_shape[:-1], layer.out_channels)
    (kh, kw), p, s = layer.kernel, layer.padding, layer.stride
    h, w = input_shape[-2:]
    spatial = ((h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1)
    return (*input_shape[:-3], layer.out_channels, *spatial)
