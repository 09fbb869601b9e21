"""Mapping: output positions across rows; inputs, accumulators and outputs across tracks.

Every row computes one output position (a pixel of one image, or one sample for ``linear``).
Two loops remain to be placed in time: output channels and the receptive field's inputs.

* **Resident inputs** (one tile): the whole receptive field fits beside at least one
  accumulator. It is loaded once; output channels are computed in groups that fill the
  remaining tracks, each group read out when done.
* **Tiled inputs**: the receptive field does not fit (or the cost model prefers it). A group
  of channels keeps its accumulators resident while the inputs stream through tracks
  0..tile-1 a tile at a time (loads write only those tracks); the inputs are loaded again for
  every channel group.

Tracks that neither the tile nor the group's channels use hold CSE temporaries
(compiler/schedule.py), so smaller groups or tiles can pay for themselves in shared adds.
The choice (tile size, group size) minimises cycles: small layers are lowered for every
candidate and counted exactly; large ones are estimated (loads cost a cycle per row per
domain per tile, adds a fixed cost scaled by the CSE savings of a scheduled sample).
Layers that cannot fit at all are rejected with the limit they exceed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import RtmapError
from ..params import MachineParams
from ..sim.layer import Layer
from .analysis import program_counts
from .bitwidth import accumulator_bits, count_bits
from .cse import weight_matrix
from .ir import ChannelPlan, ChannelSum, GroupPlan, LayerPlan
from .lower import free_tracks, lower_layer
from .schedule import schedule_group

# Rough cycles per term added to an accumulator, for comparing mappings of large layers
# (not for reports: those count the lowered program exactly).
_CYCLES_PER_TERM_BIT = 10
# Layers up to this many non-zero weights choose their mapping by exact cycle counts.
EXACT_CHOICE_TERMS = 4000
# The best options by folded terms that compete with the options keeping tracks spare.
_CANDIDATES = 3


def plan_layer(layer: Layer, sums: list[ChannelSum], params: MachineParams,
               active_rows: int | None = None) -> LayerPlan:
    """Choose the mapping of ``layer`` onto a machine of ``params``; check every limit."""
    rows = params.rows if active_rows is None else active_rows
    if not 1 <= rows <= params.rows:
        raise RtmapError(f"active rows {rows} outside 1..{params.rows} (rows={params.rows})")
    kh, kw = layer.kernel
    inputs = layer.in_channels * kh * kw
    thresholded = layer.thresholds is not None
    _check_widths(layer, sums, params)
    resident = _resident_option(layer, inputs, params, thresholded)
    tiled = _tiled_options(layer, inputs, params, thresholded)
    options = ([resident] if resident else []) + tiled
    if not options:
        need, what = (3, "an input, an accumulator and an output") if thresholded else \
            (2, "an input and an accumulator")
        raise RtmapError(f"layer needs at least {need} tracks per row ({what}) but the machine "
                         f"has tracks={params.tracks}")
    naive = sorted(options, key=lambda o: _estimated_cycles(o[0], o[1], layer, sums, rows, 1.0))
    candidates = list(dict.fromkeys(naive[:_CANDIDATES] + _spare_options(layer, params)))
    widths = [accumulator_bits(s, layer.in_bits, layer.kind) for s in sums]
    plans = [_plan(option, layer, sums, widths, rows) for option in candidates]
    if sum(len(s.terms) for s in sums) <= EXACT_CHOICE_TERMS:
        def cost(plan: LayerPlan) -> float:
            code, _ = lower_layer(plan, sums, layer.thresholds, params, rounds=0)
            return program_counts(code, params)["cycles"]
    else:
        def cost(plan: LayerPlan) -> float:
            ratio = _sampled_add_ratio(plan, layer, sums, params)
            return _estimated_cycles(plan.tile_inputs, len(plan.groups[0].channels), layer,
                                     sums, rows, ratio)
    return min(plans, key=cost)


def _plan(option: Option, layer: Layer, sums: list[ChannelSum], widths: list[int],
          rows: int) -> LayerPlan:
    """The track layout of an option: channel groups after the tile (``widths``: each
    channel's accumulator bits)."""
    tile, per_group, first_free, shared_scratch = option
    thresholded = layer.thresholds is not None
    out_bits = count_bits(layer.thresholds.shape[1]) if thresholded else 0
    groups = []
    for start in range(0, len(sums), per_group):
        members = []
        for offset, s in enumerate(sums[start:start + per_group]):
            if thresholded and not shared_scratch:
                acc_track, track = first_free + 2 * offset, first_free + 2 * offset + 1
            elif thresholded:
                acc_track, track = tile, first_free + offset
            else:
                acc_track = track = first_free + offset
            width = widths[s.channel]
            members.append(ChannelPlan(channel=s.channel, track=track, acc_track=acc_track,
                                       acc_bits=width,
                                       out_bits=out_bits if thresholded else width))
        groups.append(GroupPlan(tuple(members), max(c.out_bits for c in members)))
    return LayerPlan(kind=layer.kind, out_channels=layer.out_channels,
                     inputs=layer.in_channels * layer.kernel[0] * layer.kernel[1],
                     in_bits=layer.in_bits, active_rows=rows, thresholded=thresholded,
                     groups=tuple(groups), tile_inputs=tile)


def _check_widths(layer: Layer, sums: list[ChannelSum], params: MachineParams) -> None:
    if layer.in_bits > params.domains:
        raise RtmapError(f"in_bits={layer.in_bits} needs more domains than "
                         f"domains={params.domains}")
    for s in sums:
        bits = accumulator_bits(s, layer.in_bits, layer.kind)
        if bits > params.domains:
            raise RtmapError(
                f"output channel {s.channel} needs a {bits}-bit accumulator ({len(s.terms)} "
                f"non-zero weights of {layer.in_bits}-bit inputs) but domains={params.domains}")
    if layer.thresholds is not None:
        out_bits = count_bits(layer.thresholds.shape[1])
        if out_bits > params.domains:
            raise RtmapError(f"{layer.thresholds.shape[1]} threshold levels need {out_bits} "
                             f"domains but domains={params.domains}")


# An option is (tile inputs, channels per group, first channel track, shared scratch).
Option = tuple[int, int, int, bool]


def _resident_option(layer: Layer, inputs: int, params: MachineParams,
                     thresholded: bool) -> Option | None:
    # Thresholded: one scratch accumulator shared by the group, one output track a channel.
    first_free = inputs + (1 if thresholded else 0)
    per_group = min(params.tracks - first_free, layer.out_channels)
    return (inputs, per_group, first_free, thresholded) if per_group >= 1 else None


def _tiled_options(layer: Layer, inputs: int, params: MachineParams,
                   thresholded: bool) -> list[Option]:
    """Every sensible split of the tracks between an input tile and resident channels."""
    per_channel = 2 if thresholded else 1  # accumulator (+ output)
    options = []
    for groups in range(1, layer.out_channels + 1):
        per_group = math.ceil(layer.out_channels / groups)
        if math.ceil(layer.out_channels / per_group) != groups:
            continue  # the same split as a smaller group count
        tile = min(params.tracks - per_channel * per_group, inputs)
        if tile < 1:
            continue
        if tile == inputs:
            continue  # that is the resident mapping, with more tracks to spare
        options.append((tile, per_group, tile, False))
    return options


def _spare_options(layer: Layer, params: MachineParams) -> list[Option]:
    inputs = layer.in_channels * layer.kernel[0] * layer.kernel[1]
    thresholded = layer.thresholds is not None
    options = []
    for halvings in range(4):
        per_group = math.ceil(layer.out_channels / (1 << halvings))
        if halvings and per_group == math.ceil(layer.out_channels / (1 << (halvings - 1))):
            break
        for spare in (0.25, 0.5):
            # Resident when the inputs fit: the shared scratch accumulator follows them.
            left = params.tracks - per_group - (1 if thresholded else 0)
            if inputs <= left * (1 - spare):
                first_free = inputs + (1 if thresholded else 0)
                options.append((inputs, per_group, first_free, thresholded))
                continue
            left = params.tracks - per_group * (2 if thresholded else 1)
            tile = int(left * (1 - spare))
            if tile >= 1:
                options.append((tile, per_group, tile, False))
    return list(dict.fromkeys(options))


def _sampled_add_ratio(plan: LayerPlan, layer: Layer, sums: list[ChannelSum],
                       params: MachineParams) -> float:
    """Adds after CSE over folded adds, for the first channel group on the first tile."""
    group = plan.groups[0]
    count = plan.tiles[0][1]
    spare = free_tracks(params, count, group)
    weights = weight_matrix([sums[c.channel] for c in group.channels], plan.inputs)[:, :count]
    folded = int(np.maximum(np.count_nonzero(weights, axis=1) - 1, 0).sum())
    if not spare or not folded:
        return 1.0
    ops = schedule_group(weights, [c.acc_bits for c in group.channels], layer.in_bits, spare,
                         rounds=0)
    return sum(max(len(op.terms) - 1, 0) for op in ops) / folded


def _estimated_cycles(tile: int, per_group: int, layer: Layer, sums: list[ChannelSum],
                      rows: int, add_ratio: float) -> float:
    inputs = layer.in_channels * layer.kernel[0] * layer.kernel[1]
    groups = math.ceil(layer.out_channels / per_group)
    tiles = math.ceil(inputs / tile)
    loads = (1 if tiles == 1 else groups) * tiles * layer.in_bits * rows
    terms = sum(len(s.terms) for s in sums)
    # Per (tile, channel) the carry/borrow is set up again; more tiles, more overhead.
    overhead = groups * tiles * per_group * 4
    return loads + add_ratio * terms * _CYCLES_PER_TERM_BIT * 4 + overhead
