"""Mapping: output positions across rows, receptive fields and results across tracks.

v0 mapping (the full compiler chooses loop orders by cost): every row computes one output
position; its receptive field is loaded once into tracks 0..inputs-1; output channels are
computed in groups that fill the remaining tracks, and each group is read out at once.
Layers that do not fit are rejected with the limit they exceed.
"""

from __future__ import annotations

from ..errors import RtmapError
from ..params import MachineParams
from ..sim.layer import Layer
from .bitwidth import accumulator_bits, count_bits
from .ir import ChannelPlan, ChannelSum, GroupPlan, LayerPlan


def plan_layer(layer: Layer, sums: list[ChannelSum], params: MachineParams,
               active_rows: int | None = None) -> LayerPlan:
    """Assign tracks to the layer's inputs and outputs; check every machine limit."""
    rows = params.rows if active_rows is None else active_rows
    if not 1 <= rows <= params.rows:
        raise RtmapError(f"active rows {rows} outside 1..{params.rows} (rows={params.rows})")
    kh, kw = layer.kernel
    inputs = layer.in_channels * kh * kw
    thresholded = layer.thresholds is not None
    # A thresholded layer needs one scratch accumulator beside its output counts.
    reserved = 2 if thresholded else 1
    if inputs + reserved > params.tracks:
        what = "1 scratch accumulator + 1 output" if thresholded else "1 accumulator"
        raise RtmapError(
            f"layer needs {inputs + reserved} tracks per row ({inputs} inputs = "
            f"{layer.in_channels} channels x {kh}x{kw} kernel, plus {what}) but the machine "
            f"has tracks={params.tracks}")
    if layer.in_bits > params.domains:
        raise RtmapError(f"in_bits={layer.in_bits} needs more domains than "
                         f"domains={params.domains}")

    widths = [accumulator_bits(s, layer.in_bits) for s in sums]
    for s, bits in zip(sums, widths, strict=True):
        if bits > params.domains:
            raise RtmapError(
                f"output channel {s.channel} needs a {bits}-bit accumulator ({len(s.terms)} "
                f"non-zero weights of {layer.in_bits}-bit inputs) but domains={params.domains}")
    out_bits = count_bits(layer.thresholds.shape[1]) if thresholded else 0
    if out_bits > params.domains:
        raise RtmapError(f"{layer.thresholds.shape[1]} threshold levels need {out_bits} domains "
                         f"but domains={params.domains}")

    first_free = inputs + (1 if thresholded else 0)
    per_group = params.tracks - first_free
    groups = []
    for start in range(0, len(sums), per_group):
        members = []
        for offset, s in enumerate(sums[start:start + per_group]):
            track = first_free + offset
            acc_bits = widths[s.channel]
            members.append(ChannelPlan(
                channel=s.channel, track=track,
                acc_track=inputs if thresholded else track, acc_bits=acc_bits,
                out_bits=out_bits if thresholded else acc_bits))
        groups.append(GroupPlan(tuple(members), max(c.out_bits for c in members)))
    return LayerPlan(kind=layer.kind, out_channels=layer.out_channels, inputs=inputs,
                     in_bits=layer.in_bits, active_rows=rows, thresholded=thresholded,
                     groups=tuple(groups))
