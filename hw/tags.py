"""Tag logic: one tag bit per row, combined with each search's match vector."""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa import Combine
from .cam_array import index_bits, rejected
from .fanout import TAG_GROUP_ROWS, index_split, replica, row_groups

__all__ = ["RESULT_LATENCY", "TagLogic", "barrel_shift", "popcount", "popcount_of",
           "priority_encoder", "shift_offset"]

# Cycles from the cycle whose tags (or array row) a result describes to the cycle it is on
# the output: a register stage per row group, then one across the groups.
RESULT_LATENCY = 2


def priority_encoder(bits) -> tuple:
    """``(valid, index)`` of the lowest set bit of ``bits``, as a balanced tree of muxes.

    ``index`` is ``index_bits(len(bits))`` wide and 0 when no bit is set. The input is padded
    with zeros to a power of two; each level then picks the lower half's index if it has a set
    bit, else the upper half's, and appends "the lower half was empty" as the next index bit.
    Depth is log2(n), not n.
    """
    width = index_bits(len(bits))
    padded = Cat(bits, Const(0, (1 << width) - len(bits)))

    def encode(vector):
        if len(vector) == 1:
            return vector[0], Const(0, 0)
        half = len(vector) // 2
        low_valid, low_index = encode(vector[:half])
        high_valid, high_index = encode(vector[half:])
        index = Mux(low_valid, Cat(low_index, Const(0, 1)), Cat(high_index, Const(1, 1)))
        return low_valid | high_valid, index

    return encode(padded)


def shift_offset(count, down, rows: int):
    """Where :func:`barrel_shift` reads from for a shift by ``count`` rows up or down: R - n
    or R + n, with n = min(count, R) (any larger count shifts every tag out alike)."""
    clamped = Mux(count > rows, rows, count)
    return Mux(down, rows + clamped, rows - clamped)


def barrel_shift(m: Module, bits, groups, offsets):
    """``bits`` shifted by an offset from :func:`shift_offset`: bit r of the result is bit
    r + s of ``z`` = R zeros, ``bits``, zeros (so s = R - n shifts up by n, R + n down).

    One direction only, so no stage chooses a direction: a stage per base-4 digit of s, the
    highest first, each a 4-way choice (one FPGA slice a bit), each only as wide as the
    shifts still to come need. Row group ``g`` (``groups[g]``, a range of bit indices) takes
    its digits from ``offsets[g]``, copies of one offset; bits past the rows use the last
    group's. Each stage is a signal of its own: as one expression, every stage would use the
    previous one several times over."""
    rows = len(bits)
    value = Cat(Const(0, rows), bits, Const(0, rows + 1))
    digits = (len(offsets[0]) + 1) // 2
    for digit in reversed(range(digits)):
        step = 4 ** digit
        width = rows + step - 1  # what the lower digits can still reach
        out = Signal(width, name=f"shifted_{digit}")
        spans = [(g, rows_g.start, rows_g.stop) for g, rows_g in enumerate(groups)]
        if width > rows:
            spans.append((len(groups) - 1, rows, width))
        for g, start, stop in spans:
            choices = []
            for d in range(4):
                lo, hi = start + d * step, stop + d * step
                inside = value[min(lo, len(value)):min(hi, len(value))]
                choices.append(Cat(inside, Const(0, (hi - lo) - len(inside))))
            m.d.comb += out[start:stop].eq(Array(choices)[offsets[g][2 * digit:2 * digit + 2]])
        value = out
    return value[:rows]


def popcount(bits):
    """Number of set bits, as a balanced adder tree."""
    return popcount_of(bits[i] for i in range(len(bits)))


def popcount_of(counts):
    """The sum of ``counts``, as a balanced adder tree."""
    terms = list(counts)
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


class TagLogic(wiring.Component):
    """The tag register and what the controller and host read off it.

    Operations are *issued*: the controls below are sampled at a clock edge and carried out
    in the following cycle (the *execute* cycle), each row group working from its own
    registered copy of them (:mod:`rtmap.hw.fanout`); the tags change at the edge ending it.

    Parameters
    ----------
    rows : int
        R, the number of tag bits (one per CAM row).

    Members
    -------
    update : In(1), issued
        The tags become ``combine(tags, match)``, with the execute cycle's ``match``.
    combine : In(Combine), issued
        SET: ``match``; AND: ``tags & match``; OR: ``tags | match``; ANDN: ``tags & ~match``.
    clear : In(1), issued
        All tags become 0 (wins over ``update`` and ``shift``).
    shift : In(1); shift_down : In(1); shift_count : In(count_width), issued
        Every tag moves ``shift_count`` rows toward row R-1 (or toward row 0 with
        ``shift_down``); rows shifted in get 0. A barrel shifter of log4 stages (the count and
        direction become one offset before the row groups' copies), so any stride takes one
        cycle. ``update`` wins over ``shift``.
    match : In(R)
        The execute cycle's per-row match (from the array, combinational).
    tags : Out(R)
        The tag register.
    any_match, first_valid : Out(1); first_match : Out(index_bits(R)); count : Out(bits of R)
        Some tag is set; the index of the lowest set tag (0 when none is); the number of set
        tags. Each describes the tags of the cycle ``RESULT_LATENCY`` cycles earlier: the
        reductions over all rows are pipelined, a register stage per row group, then one
        across the groups.
    """

    def __init__(self, rows: int, count_width: int = 8):
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise rejected(self, ValueError(f"rows must be a positive integer, not {rows!r}"))
        self.rows = rows
        super().__init__({
            "shift": In(1),
            "shift_down": In(1),
            "shift_count": In(count_width),
            "match": In(rows),
            "update": In(1),
            "combine": In(Combine),
            "clear": In(1),
            "tags": Out(rows),
            "any_match": Out(1),
            "first_match": Out(index_bits(rows)),
            "first_valid": Out(1),
            "count": Out(rows.bit_length()),
        })

    def elaborate(self, platform):
        m = Module()
        tags = Signal(self.rows)
        m.d.comb += self.tags.eq(tags)
        groups = row_groups(self.rows, TAG_GROUP_ROWS)

        # Each group's copy of the issued controls; the shifter's stage bits for a row use the
        # copy of that row's group.
        offset = Signal((2 * self.rows).bit_length())
        m.d.comb += offset.eq(shift_offset(self.shift_count, self.shift_down, self.rows))
        issued = [{name: replica(m, value, f"tag_{name}", g,
                                 resettable=name in ("update", "clear", "shift"))
                   for name, value in (("update", self.update), ("combine", self.combine),
                                       ("clear", self.clear), ("shift", self.shift),
                                       ("offset", offset))}
                  for g in range(len(groups))]
        shifted = barrel_shift(m, tags, groups, [c["offset"] for c in issued])

        for g, rows in enumerate(groups):
            c = issued[g]
            part = slice(rows.start, rows.stop)
            mine, match = tags[part], self.match[part]
            with m.If(c["clear"]):
                m.d.sync += mine.eq(0)
            with m.Elif(c["update"]):
                with m.Switch(c["combine"]):
                    with m.Case(Combine.SET):
                        m.d.sync += mine.eq(match)
                    with m.Case(Combine.AND):
                        m.d.sync += mine.eq(mine & match)
                    with m.Case(Combine.OR):
                        m.d.sync += mine.eq(mine | match)
                    with m.Case(Combine.ANDN):
                        m.d.sync += mine.eq(mine & ~match)
            with m.Elif(c["shift"]):
                m.d.sync += mine.eq(shifted[part])

        # Stage 1, per group: its count, whether it has a tag, and its lowest tag.
        group_count, group_any, group_first = [], [], []
        for g, rows in enumerate(groups):
            mine = tags[rows.start:rows.stop]
            count = Signal(len(rows).bit_length(), name=f"count_g{g}", reset_less=True)
            first = Signal(index_split(TAG_GROUP_ROWS), name=f"first_g{g}", reset_less=True)
            valid, index = priority_encoder(mine)
            m.d.sync += [count.eq(popcount(mine)), first.eq(index)]
            group_count.append(count)
            group_first.append(first)
            group_any.append(valid)
        any_g = Signal(len(groups), reset_less=True)
        m.d.sync += any_g.eq(Cat(*group_any))

        # Stage 2, across the groups.
        count = Signal(self.rows.bit_length(), reset_less=True)
        first = Signal(index_bits(self.rows), reset_less=True)
        any_ = Signal(reset_less=True)
        valid, group = priority_encoder(any_g)
        m.d.sync += [
            count.eq(popcount_of(group_count)),
            first.eq(Cat(Array(group_first)[group], group)[:len(first)]),
            any_.eq(valid),
        ]
        m.d.comb += [
            self.any_match.eq(any_),
            self.first_valid.eq(any_),
            self.first_match.eq(first),
            self.count.eq(count),
        ]
        return m
