"""The compiler's typed intermediate representation.

A layer goes through: folded signed sums (``ChannelSum``) -> a track plan (``LayerPlan``,
which rows and tracks hold what) -> ISA instructions. The plan is also what the host needs to
pack inputs and unpack outputs, so it is serialised into ``program.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple


class Term(NamedTuple):
    """One non-zero weight: +/- the activation at ``index`` of a row's receptive field (a
    named tuple: layers fold into millions of these)."""

    index: int
    sign: int  # +1 or -1


@dataclass(frozen=True)
class ChannelSum:
    """Output channel ``channel`` = the signed sum of its terms (zero weights are gone)."""

    channel: int
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class ChannelPlan:
    """Where one output channel is computed and how wide its values are."""

    channel: int
    track: int  # the track read out: the accumulator, or the thresholded count
    acc_track: int  # where the accumulator is built (a shared scratch track when thresholded)
    acc_bits: int  # two's complement width that holds every possible accumulator value
    out_bits: int  # bits read out for this channel


@dataclass(frozen=True)
class GroupPlan:
    """Channels computed together and read out in one pass over ``read_bits`` domains."""

    channels: tuple[ChannelPlan, ...]
    read_bits: int


@dataclass(frozen=True)
class LayerPlan:
    """The mapping of a layer onto the array: what the program and the host agree on.

    Every row is one output position (one pixel of one image, or one sample for ``linear``).
    Its receptive field (``inputs`` activations of ``in_bits``) comes in tiles of
    ``tile_inputs``: tile i holds inputs i*tile_inputs.. in tracks 0..tile_inputs-1. With one
    tile the inputs are loaded once; with several, each channel group loads them all again.
    """

    kind: str
    out_channels: int
    inputs: int
    in_bits: int
    active_rows: int
    thresholded: bool
    groups: tuple[GroupPlan, ...]
    tile_inputs: int

    @property
    def tiles(self) -> list[tuple[int, int]]:
        """(first input, count) of each tile, in load order."""
        return [(first, min(self.tile_inputs, self.inputs - first))
                for first in range(0, self.inputs, self.tile_inputs)]

    @property
    def reloads(self) -> bool:
        """Several tiles: every channel group loads the inputs again."""
        return self.tile_inputs < self.inputs

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LayerPlan:
        groups = tuple(
            GroupPlan(tuple(ChannelPlan(**c) for c in g["channels"]), g["read_bits"])
            for g in d["groups"])
        return cls(**{**d, "groups": groups})
