"""The compiler's named steps, from a validated layer to an encoded program."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RtmapError
from ..isa import Instr, encode_program
from ..params import MachineParams
from ..program import Program
from ..sim.layer import Layer
from .analysis import naive_counts, program_counts
from .fold import fold_weights
from .ir import LayerPlan
from .lower import hand_over, lower_layer
from .mapping import plan_layer

STEPS = ("fold", "plan", "lower", "emit")


@dataclass(frozen=True)
class CompiledLayer:
    """A program and its mapping: ``plan`` says how the host lays out the inputs,
    ``output_plan`` (the same plan, but for a chain) how it reads the outputs back."""

    program: Program
    plan: LayerPlan
    code: list[Instr]
    output_plan: LayerPlan | None = None

    def __post_init__(self) -> None:
        if self.output_plan is None:
            object.__setattr__(self, "output_plan", self.plan)


def compile_layer(layer: Layer, params: MachineParams,
                  active_rows: int | None = None) -> CompiledLayer:
    """Compile ``layer`` for a machine of ``params``; ``active_rows`` output positions per run."""
    sums = fold_weights(layer)
    plan = plan_layer(layer, sums, params, active_rows)
    code, counts = lower_layer(plan, sums, layer.thresholds, params)
    words = encode_program(code, params)
    if len(words) > params.program_depth:
        raise RtmapError(f"program needs {len(words)} words but program_depth="
                         f"{params.program_depth}")
    meta = {
        "layer": {"kind": layer.kind,
                  "weights_shape": None if layer.kind == "maxpool" else list(layer.weights.shape),
                  "pool": layer.pool, "channels": layer.channels,
                  "stride": layer.stride, "padding": layer.padding, "in_bits": layer.in_bits,
                  "levels": None if layer.thresholds is None else int(layer.thresholds.shape[1])},
        "ops": {**naive_counts(sums, layer.kind), **counts},
        "stats": program_counts(code, params),
        "plan": plan.as_dict(),
    }
    return CompiledLayer(Program(params, words, meta), plan, code)


def chain_kinds_fit(producer: Layer, consumer: Layer) -> bool:
    """Whether ``consumer`` can take ``producer``'s outputs where they are: the same rows
    (output positions) in both, i.e. linear after linear, or a 1x1 stride-1 unpadded conv2d
    after a spatial layer; and levels or maxima, not raw sums, in between."""
    if producer.kind != "maxpool" and producer.thresholds is None:
        return False
    if consumer.kind == "linear":
        return producer.kind == "linear"
    return (consumer.kind == "conv2d" and producer.kind != "linear"
            and consumer.kernel == (1, 1) and consumer.stride == 1 and consumer.padding == 0)


def compile_chain(producer: Layer, consumer: Layer, params: MachineParams,
                  active_rows: int | None = None) -> CompiledLayer | str:
    """One program running ``producer`` then ``consumer`` with the activations between them
    kept in the array: the producer's outputs, instead of being read out, move into tracks
    0..K-1, where the consumer's program, which loads nothing, expects its inputs. Returns the
    reason (a string) when the mapping does not allow it: the producer's inputs must be
    resident and its outputs computed in one group (else its tracks are reused), the
    consumer's inputs resident, and tracks 0..K-1 free at the end (K inputs or more)."""
    if not chain_kinds_fit(producer, consumer):
        return f"a {consumer.kind} cannot take a {producer.kind}'s outputs in place"
    first_sums, last_sums = fold_weights(producer), fold_weights(consumer)
    first = plan_layer(producer, first_sums, params, active_rows)
    last = plan_layer(consumer, last_sums, params, active_rows)
    if first.reloads or len(first.groups) != 1:
        return (f"the {producer.kind}'s outputs are computed in {len(first.groups)} groups"
                if not first.reloads else f"the {producer.kind}'s inputs are tiled")
    if last.reloads:
        return f"the {consumer.kind}'s inputs are tiled"
    channels = first.groups[0].channels
    if any(c.track < producer.out_channels for c in channels) \
            or producer.out_channels > first.inputs:
        return "the producer's outputs overlap the tracks its consumer reads"
    if any(c.out_bits != consumer.in_bits for c in channels):
        return "the producer's outputs are not as wide as the consumer's inputs"
    code, counts = lower_layer(first, first_sums, producer.thresholds, params, read=False,
                               halt=False)
    code += hand_over(first)
    tail, tail_counts = lower_layer(last, last_sums, consumer.thresholds, params, load=False)
    code += tail
    words = encode_program(code, params)
    if len(words) > params.program_depth:
        return f"the chained program needs {len(words)} words but program_depth=" \
               f"{params.program_depth}"
    ops = {key: counts[key] + tail_counts[key] for key in counts}
    meta = {"chain": [producer.kind, consumer.kind], "ops": ops,
            "stats": program_counts(code, params),
            "plan": first.as_dict(), "output_plan": last.as_dict()}
    return CompiledLayer(Program(params, words, meta), first, code, last)
