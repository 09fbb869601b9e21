"""A whole TWN network: an ordered list of layers in one `.npz` file, validated as a chain.

The file holds ``network``, a JSON text describing the input and the layers in order, and the
arrays of each layer as ``<name>.weights`` and ``<name>.thresholds``::

    {"format": "rtmap-network", "version": 1,
     "input": {"shape": [1, 8, 8], "in_bits": 4},
     "layers": [{"name": "conv1", "kind": "conv2d", "stride": 1, "padding": 1},
                {"name": "pool1", "kind": "maxpool", "pool": [2, 2], "stride": 2},
                {"name": "res", "kind": "add", "from": "pool1"},
                {"name": "flat", "kind": "flatten"},
                {"name": "fc", "kind": "linear"}]}

Each layer takes the previous layer's output (the first takes the input). A residual ``add``
also takes the output of the earlier layer named by ``from`` (or ``"input"``), which must have
the same shape. Everything the chain determines (a layer's input width, a max-pool's or an
add's channels) is derived, not stored, so it cannot disagree. Every layer but the last must
output thresholded levels (or max-pool them, or flatten them): raw sums can be negative and
wide, and no layer takes those as inputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler.bitwidth import count_bits
from ..errors import RtmapError
from .layer import MAX_IN_BITS, Layer, output_shape, read_npz

FORMAT = "rtmap-network"
VERSION = 1
KINDS = ("conv2d", "linear", "maxpool", "add", "flatten")
# What a layer entry may hold besides name and kind, by kind.
OPTIONS = {"conv2d": ("stride", "padding"), "linear": (), "maxpool": ("pool", "stride", "padding"),
           "add": ("from",), "flatten": ()}
ARRAYS = {"conv2d": ("weights", "thresholds"), "linear": ("weights", "thresholds"),
          "add": ("thresholds",), "maxpool": (), "flatten": ()}
INPUT = "input"  # what an add's "from" calls the network's input


@dataclass(frozen=True, eq=False)
class Step:
    """One entry of the network: ``layer`` is what runs on the processor (None for a flatten,
    which only reshapes); ``source`` is an add's second operand; shapes are per image."""

    name: str
    kind: str
    layer: Layer | None
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    out_bits: int | None  # width of each output value; None for raw sums
    source: str | None = None


@dataclass(frozen=True, eq=False)
class Network:
    input_shape: tuple[int, ...]  # (C, H, W) or (C,), one image
    in_bits: int
    steps: tuple[Step, ...]
    source: str = "network"

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.steps[-1].out_shape

    def describe(self) -> dict:
        """The JSON description the file stores."""
        layers = []
        for step in self.steps:
            entry = {"name": step.name, "kind": step.kind}
            layer = step.layer
            if step.kind in ("conv2d", "maxpool"):
                entry.update(stride=layer.stride, padding=layer.padding)
            if step.kind == "maxpool":
                entry["pool"] = list(layer.pool)
            if step.kind == "add":
                entry["from"] = step.source
            layers.append(entry)
        return {"format": FORMAT, "version": VERSION,
                "input": {"shape": list(self.input_shape), "in_bits": self.in_bits},
                "layers": layers}

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``<name>.weights`` and ``<name>.thresholds`` arrays the file stores."""
        stored = {}
        for step in self.steps:
            if step.kind in ("conv2d", "linear"):
                stored[f"{step.name}.weights"] = step.layer.weights
            if step.layer is not None and step.layer.thresholds is not None:
                stored[f"{step.name}.thresholds"] = step.layer.thresholds
        return stored


def build_network(description, arrays: dict, where: str = "network") -> Network:
    """Validate ``description`` (the JSON structure above) with its ``arrays`` into a Network.
    Errors name the file (``where``) and the layer."""
    if not isinstance(description, dict):
        raise RtmapError(f"{where}: the network description must be a JSON object")
    if description.get("format") != FORMAT:
        raise RtmapError(f"{where}: not an rtmap network (format {description.get('format')!r}, "
                         f"expected {FORMAT!r})")
    if description.get("version") != VERSION:
        raise RtmapError(f"{where}: network format version {description.get('version')!r} is "
                         f"not supported (this rtmap reads version {VERSION})")
    unknown = sorted(set(description) - {"format", "version", "input", "layers"})
    if unknown:
        raise RtmapError(f"{where}: unknown network entr{'y' if len(unknown) == 1 else 'ies'} "
                         f"{', '.join(map(repr, unknown))}")
    shape, in_bits = _check_input_spec(description.get("input"), where)
    entries = description.get("layers")
    if not isinstance(entries, list) or not entries:
        raise RtmapError(f"{where}: 'layers' must be a non-empty list")
    arrays = dict(arrays)
    outputs = {INPUT: (shape, in_bits)}  # name -> output shape and width, for adds
    steps = []
    input_shape, bits = shape, in_bits
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and name in outputs:
            raise RtmapError(f"{where}: layer {index} reuses the name {name!r}")
        if steps and steps[-1].out_bits is None:
            raise RtmapError(f"{where}: layer {name if name else index!r} takes the raw sums "
                             f"of {steps[-1].name!r}, which has no thresholds; only the last "
                             "layer may return raw sums")
        step = _build_step(index, entry, shape, bits, arrays, outputs, where)
        outputs[step.name] = (step.out_shape, step.out_bits)
        steps.append(step)
        shape, bits = step.out_shape, step.out_bits
    if arrays:
        raise RtmapError(f"{where}: arrays {', '.join(sorted(map(repr, arrays)))} belong to no "
                         "layer")
    return Network(input_shape, in_bits, tuple(steps), where)


def _check_input_spec(spec, where: str) -> tuple[tuple[int, ...], int]:
    if not isinstance(spec, dict) or set(spec) != {"shape", "in_bits"}:
        raise RtmapError(f"{where}: 'input' must be {{\"shape\": [C, H, W] or [C], "
                         f"\"in_bits\": N}}, got {spec!r}")
    shape, in_bits = spec["shape"], spec["in_bits"]
    if not isinstance(shape, list) or len(shape) not in (1, 3) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
        raise RtmapError(f"{where}: input shape must be [C, H, W] or [C] of positive integers, "
                         f"got {shape!r}")
    if not isinstance(in_bits, int) or isinstance(in_bits, bool) \
            or not 1 <= in_bits <= MAX_IN_BITS:
        raise RtmapError(f"{where}: input in_bits must be an integer 1..{MAX_IN_BITS}, got "
                         f"{in_bits!r}")
    return tuple(shape), in_bits


def _build_step(index, entry, in_shape, in_bits, arrays, outputs, where) -> Step:
    if not isinstance(entry, dict):
        raise RtmapError(f"{where}: layer {index} must be a JSON object, got {entry!r}")
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not name or "." in name or name == INPUT:
        raise RtmapError(f"{where}: layer {index} needs a name (a non-empty string without "
                         f"'.', not {INPUT!r}), got {name!r}")
    at = f"{where}: layer {name!r}"
    if kind not in KINDS:
        raise RtmapError(f"{at}: kind {kind!r} is not one of {', '.join(KINDS)}")
    unknown = sorted(set(entry) - {"name", "kind", *OPTIONS[kind]})
    if unknown:
        raise RtmapError(f"{at}: {kind} takes no {', '.join(map(repr, unknown))}")
    mine = {key.split(".", 1)[1]: arrays.pop(key) for key in list(arrays)
            if "." in key and key.split(".", 1)[0] == name}
    extra = sorted(set(mine) - set(ARRAYS[kind]))
    if extra:
        raise RtmapError(f"{at}: a {kind} layer has no {', '.join(map(repr, extra))} array")
    spatial = len(in_shape) == 3
    if kind == "flatten":
        if not spatial:
            raise RtmapError(f"{at}: flatten needs a (C, H, W) input, got {in_shape}")
        return Step(name, kind, None, in_shape, (int(np.prod(in_shape)),), in_bits)
    if kind == "linear" and spatial:
        raise RtmapError(f"{at}: a linear layer needs a flat input, got {in_shape}; put a "
                         "flatten before it")
    if kind != "linear" and not spatial:
        raise RtmapError(f"{at}: {kind} needs a (C, H, W) input, got {in_shape}")
    if kind in ("conv2d", "linear") and "weights" not in mine:
        raise RtmapError(f"{at}: missing array '{name}.weights'")
    source = None
    options = {key: entry[key] for key in OPTIONS[kind] if key in entry}
    if kind == "add":
        source = options.pop("from", None)
        if source not in outputs:
            raise RtmapError(f"{at}: 'from' must name an earlier layer or {INPUT!r}, got "
                             f"{source!r}")
        other_shape, other_bits = outputs[source]
        if other_shape != in_shape:
            raise RtmapError(f"{at}: adds {in_shape} to {source!r}'s {other_shape}; the "
                             "shapes must be equal")
        in_bits = max(in_bits, other_bits)  # both operands are loaded at the wider width
    if kind in ("maxpool", "add"):
        options["channels"] = np.array(in_shape[0])
    for key in ("stride", "padding"):
        if key in options:
            value = options[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise RtmapError(f"{at}: {key} must be one integer, got {value!r}")
            options[key] = np.array(value)
    layer = Layer(kind, mine.get("weights"), in_bits=np.array(in_bits),
                  thresholds=mine.get("thresholds"), source=at, **options)
    if kind in ("conv2d", "linear") and layer.in_channels != in_shape[0]:
        raise RtmapError(f"{at}: expects {layer.in_channels} input channels but its input "
                         f"{in_shape} has {in_shape[0]}")
    if spatial:
        (kh, kw), p = layer.kernel, layer.padding
        h, w = in_shape[1:]
        if h + 2 * p < kh or w + 2 * p < kw:
            raise RtmapError(f"{at}: its {h}x{w} input with padding {p} is smaller than the "
                             f"{kh}x{kw} kernel")
    out_shape = output_shape(layer, in_shape)
    if kind == "maxpool":
        out_bits = in_bits
    elif layer.thresholds is not None:
        out_bits = count_bits(int(layer.thresholds.shape[1]))
        if out_bits > MAX_IN_BITS:
            raise RtmapError(f"{at}: {layer.thresholds.shape[1]} threshold levels need "
                             f"{out_bits} bits; a next layer takes at most {MAX_IN_BITS}")
    else:
        out_bits = None
    return Step(name, kind, layer, in_shape, out_shape, out_bits, source)


def load_network(path) -> Network:
    """Read and validate a network `.npz`."""
    path = Path(path)
    where = path.name
    contents = read_npz(path, "network")
    text = contents.pop("network", None)
    if text is None:
        hint = " (this looks like a single layer: use rtmap run)" if "kind" in contents else ""
        raise RtmapError(f"{where}: missing the 'network' description{hint}")
    if text.ndim != 0 or text.dtype.kind != "U":
        raise RtmapError(f"{where}: 'network' must be a JSON string")
    try:
        description = json.loads(str(text))
    except json.JSONDecodeError as exc:
        raise RtmapError(f"{where}: the 'network' description is not valid JSON ({exc})") \
            from None
    return build_network(description, contents, where)


def save_network(network: Network, path) -> Path:
    path = Path(path)
    with open(path, "wb") as f:  # np.savez would append .npz to any other suffix
        np.savez(f, network=np.array(json.dumps(network.describe())), **network.arrays())
    return path


def check_network_input(network: Network, x, where: str = "input") -> np.ndarray:
    """``x`` as a batched uint8 array (N, *input_shape), after checking its shape and range."""
    array = np.asarray(x)
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise RtmapError(f"{where}: input dtype {array.dtype} is not an integer type")
    shape = network.input_shape
    if array.shape == shape:
        array = array[np.newaxis]
    if array.ndim != len(shape) + 1 or array.shape[1:] != shape or array.shape[0] == 0:
        raise RtmapError(f"{where}: input shape {tuple(np.shape(x))} is neither {shape} nor "
                         f"(N, {', '.join(map(str, shape))}) with N >= 1")
    high = (1 << network.in_bits) - 1
    bad = np.argwhere((array < 0) | (array > high))
    if len(bad):
        position = tuple(bad[0])
        raise RtmapError(f"{where}: input value {array[position]} at "
                         f"[{', '.join(map(str, position))}] is out of range 0..{high} for "
                         f"in_bits={network.in_bits}")
    return array.astype(np.uint8)
