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
from .lower import lower_layer
from .mapping import plan_layer

STEPS = ("fold", "plan", "lower", "emit")


@dataclass(frozen=True)
class CompiledLayer:
    program: Program
    plan: LayerPlan
    code: list[Instr]


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
