"""Tag logic: one tag bit per row, combined with each search's match vector."""

from __future__ import annotations

import itertools

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa import TSHIFT_DIGIT_BITS, Combine, tshift_cycles
from .cam_array import index_bits, rejected
from .fanout import (
    RESULT_LATENCY,
    TAG_GROUP_ROWS,
    by_region,
    delayed,
    group_regions,
    index_split,
    region_copies,
    replica,
    row_groups,
)

__all__ = ["RESULT_LATENCY", "SHIFT_DIGIT_BITS", "TagLogic", "barrel_shift", "offset_bits",
           "popcount", "popcount_of", "priority_encoder", "shift_digits", "shift_offset",
           "shift_stage_digits"]

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
    """Where :func:`barrel_shift` reads from for a shift by ``count`` < R rows up or down:
    R - count or R + count, in 1..2R-1. (A larger count shifts every tag out: a clear.)"""
    return Mux(down, rows + count, rows - count)


def offset_bits(rows: int) -> int:
    """Width of a :func:`shift_offset` on ``rows`` rows."""
    return (2 * rows - 1).bit_length()


SHIFT_DIGIT_BITS = TSHIFT_DIGIT_BITS  # offset bits a stage of the tag shifter decides, about
# Offset bits the last stage decides (the stage into the tags, when there are several): a
# 4-way choice among the 3 rows next to a tag. (An 8-way one, the rows 7 away, ended the
# slowest path of one placement of 256 rows, 0.08 ns late.)
SHIFT_LAST_STAGE_BITS = 2
# Rows per copy of the last shifter stage's digit (the stage into the tags): with a copy per
# group of 16 rows, that copy to a tag was 0.19 ns late on one placement of 256 rows.
SHIFT_LAST_STAGE_ROWS = 4


def shift_digits(offset_width: int) -> list[slice]:
    """The offset's bits that each stage of :func:`barrel_shift` decides, lowest first: as many
    digits as ``SHIFT_DIGIT_BITS``-bit ones would need (``tshift_cycles``), the lowest of
    ``SHIFT_LAST_STAGE_BITS`` bits, the others of ``SHIFT_DIGIT_BITS`` but the highest, which
    takes the rest (2 to 4 bits)."""
    stages = -(-offset_width // SHIFT_DIGIT_BITS)
    if stages == 1:
        return [slice(0, offset_width)]
    lows = [0, *range(SHIFT_LAST_STAGE_BITS, offset_width, SHIFT_DIGIT_BITS)][:stages]
    return [slice(low, high) for low, high in zip(lows, [*lows[1:], offset_width], strict=True)]


def shift_stage_digits(stages: int) -> list[int]:
    """The digit each stage of :func:`barrel_shift` decides, first stage first. The last
    stage is combinational, into the tags: it decides the lowest digit, a choice among the
    few rows next to a tag, so that path stays near the row. The first reads the tag register
    itself and decides the second digit (up to 7 x 4 rows away: a tag's loads stay within
    that, ending in a register); the others go between, highest first."""
    if stages == 1:
        return [0]
    return [1, *reversed(range(2, stages)), 0]


def barrel_shift(m: Module, bits, stages: int, select_of):
    """``bits`` shifted by an offset s from :func:`shift_offset`: bit r of the result is bit
    r + s of ``z`` = R zeros, ``bits``, zeros (so s = R - n shifts up by n, R + n down).

    One direction only, so no stage chooses a direction: ``stages`` stages, one per digit of
    s (the bits :func:`shift_digits` gives), in :func:`shift_stage_digits` order, each a
    choice among 2^(digit's bits) rows. Each stage but the last ends in a register, so the
    k-th stage works in the k-th cycle of a shift (:func:`rtmap.isa.tshift_cycles` cycles in
    all) and no cycle chains the long wires of two stages. ``select_of(digit, row)`` is the
    copy of digit ``digit`` (as of its stage's cycle) that the choices for row ``row`` take.
    A stage's bit x is the choice of the bits x + d x step before it; only those that some
    choice can make nonzero are built (the others are constant 0). The first stage's bit x reads the
    rows from x - R, and takes their copy of the digit; a later stage's bit takes row x's
    copy, as its last stages read it."""
    rows = len(bits)
    order = shift_stage_digits(stages)
    digits = shift_digits(offset_bits(rows))
    reach = [((1 << (digits[d].stop - digits[d].start)) - 1) << digits[d].start for d in order]
    value = Cat(Const(0, rows), bits, Const(0, rows + 1))
    nonzero = range(rows, 2 * rows)  # where ``value`` may be nonzero

    for k, digit in enumerate(order):
        step = 1 << digits[digit].start
        width = rows + sum(reach[k + 1:])  # what the later stages can still reach
        nonzero = range(max(0, nonzero.start - reach[k]), min(width, nonzero.stop))
        out = Signal(width, name=f"shifted_{k}", reset_less=True)
        stage = m.d.sync if k < len(order) - 1 else m.d.comb
        reads_rows_at = -rows if k == 0 else 0

        def select(x, digit=digit, reads_rows_at=reads_rows_at):
            return select_of(digit, min(max(x + reads_rows_at, 0), rows - 1))

        # Runs of bits that take the same copy of the digit, one choice of slices each (a
        # choice per bit makes Verilog half as large again).
        for _, span in itertools.groupby(nonzero, key=lambda x: id(select(x))):
            span = list(span)
            start, stop = span[0], span[-1] + 1
            chooser = select(start)
            choices = []
            for d in range(1 << len(chooser)):
                lo, hi = start + d * step, stop + d * step
                inside = value[min(lo, len(value)):min(hi, len(value))]
                choices.append(Cat(inside, Const(0, (hi - lo) - len(inside))))
            stage += out[start:stop].eq(Array(choices)[chooser])
        value = out
    return value[:rows]


def popcount(bits):
    """Number of set bits: each four bits' count as logic (a LUT per count bit), then a
    balanced adder tree of those (adding single bits would chain twice the adders)."""
    return popcount_of(_count_of_four(bits[i:i + 4]) for i in range(0, len(bits), 4))


def _count_of_four(bits):
    """The number of set bits among up to four, 0..4, as three bits of logic."""
    a, b, c, d = (bits[i] if i < len(bits) else Const(0) for i in range(4))
    low_pair, high_pair = (a ^ b, a & b), (c ^ d, c & d)  # (ones bit, twos bit) of a + b, c + d
    carry = low_pair[0] & high_pair[0]
    return Cat(low_pair[0] ^ high_pair[0],
               low_pair[1] ^ high_pair[1] ^ carry,
               (low_pair[1] & high_pair[1]) | (carry & (low_pair[1] | high_pair[1])))


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
    in the cycle that begins ``ISSUE_LATENCY`` edges later (the *execute* cycle), each row
    group working from its own registered copy of them, fed by its region's copy
    (:mod:`rtmap.hw.fanout`); the tags change at the edge ending it.

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
        All tags become 0 (wins over ``update`` and ``shift``). ``rst`` is a clear issued in
        each cycle it is high (cancelling a shift still in flight): the tags are 0 after the
        execute cycle of its last; operations issued before it are carried out first.
    shift : In(1); shift_down : In(1); shift_count : In(count_width), issued
        Every tag moves ``shift_count`` rows toward row R-1 (or toward row 0 with
        ``shift_down``); rows shifted in get 0. A barrel shifter of log8 stages (the count and
        direction become one offset before the row groups' copies), a stage a cycle: any
        stride takes C = ``tshift_cycles(R)`` cycles, and the tags hold until the shift lands
        at the edge ending its C-th execute cycle. Issue no other shift, update or clear in
        the C - 1 cycles after a shift (the controller idles through them).
    match : In(R)
        The execute cycle's per-row match (from the array, combinational).
    tags : Out(R)
        The tag register.
    any_match, first_valid : Out(1); first_match : Out(index_bits(R)); count : Out(bits of R)
        Some tag is set; the index of the lowest set tag (0 when none is); the number of set
        tags. Each describes the tags of the cycle ``RESULT_LATENCY`` cycles earlier: the
        reductions over all rows are pipelined, a register stage per row group, per region of
        groups, then one across the regions.
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
        tags = Signal(self.rows, reset_less=True)  # (cleared by ``rst``'s clear)
        m.d.comb += self.tags.eq(tags)
        groups = row_groups(self.rows, TAG_GROUP_ROWS)

        # A shift's result lands in its last cycle, ``tshift_cycles`` - 1 after it is issued
        # (the shifter's stages work one a cycle, meanwhile the tags hold): ``lands`` is the
        # issued shift (if no update or clear wins over it), delayed so; ``empty``, that it
        # shifts every tag out (a clear). (A count field that cannot reach R never empties:
        # Verilator flags constant comparisons.)
        cycles = tshift_cycles(self.rows)
        lands = self.shift if cycles == 1 else self.shift & ~self.update & ~self.clear
        count = self.shift_count
        empty = count >= self.rows if (1 << len(count)) > self.rows else Const(0)
        # (Reset to 0, so that ``rst`` cancels a shift in flight.)
        lands = delayed(m, lands, cycles - 1, "shift_lands", resettable=True)
        empty = delayed(m, empty, cycles - 1, "shift_empty", resettable=True)
        # What the issued operation makes of a tag t, decoded before the copies: on a match,
        # 1 if ``set_on_match``, else t if ``tag_on_match``; on a miss, t if ``tag_on_miss``;
        # either way ORed with the shifted tag if ``take_shifted``. So each row's next tag is
        # a 2-way choice by its match, whose inputs are ready before the match is: the match
        # (the array's deepest logic) is the last thing a tag waits for. All zero clears.
        # ``rst`` is issued as a clear, down the copies like any operation: so it reaches a
        # register per region, not every row's tag (nor every group's copies).
        clears = self.clear | ResetSignal() | (~self.update & lands & empty)
        update = ~clears & self.update
        shift = ~clears & ~self.update & lands
        hold = ~clears & ~self.update & ~lands
        combine = self.combine
        offset = Signal(offset_bits(self.rows))
        m.d.comb += offset.eq(shift_offset(self.shift_count, self.shift_down, self.rows))
        controls = {
            "set_on_match": update & ((combine == Combine.SET) | (combine == Combine.OR)),
            "tag_on_match": hold | update & (combine == Combine.AND),
            "tag_on_miss": hold | update & ((combine == Combine.OR) | (combine == Combine.ANDN)),
            "take_shifted": shift,
            "offset": offset,
        }
        # Each group's copy of them, through its region's; the shifter's stage bits for a row
        # use the copy of that row's group.
        region_of = group_regions(len(groups), TAG_GROUP_ROWS)
        regional = {name: region_copies(m, value, f"tag_{name}", region_of[-1] + 1)
                    for name, value in controls.items()}
        issued = [{name: replica(m, copies[region_of[g]], f"tag_{name}", g)
                   for name, copies in regional.items() if name != "offset"}
                  for g in range(len(groups))]
        # The shifter's stages each take their digit from a copy of their own (a copy of the
        # whole offset would drive every stage's multiplexers in the group), delayed to the
        # stage's cycle: the k-th stage of ``shift_stage_digits`` works k cycles after the
        # first.
        digits = shift_digits(len(offset))
        assert len(digits) == cycles, (self.rows, len(digits), cycles)
        stage_of = {digit: k for k, digit in enumerate(shift_stage_digits(cycles))}

        def copies(g, i, digit):
            """Group g's copies of digit i as of its stage's cycle: one, but one per
            ``SHIFT_LAST_STAGE_ROWS`` rows for the last stage (the one into the tags)."""
            copy = replica(m, regional["offset"][region_of[g]][digit], f"tag_offset_d{i}", g)
            for late in range(1, stage_of[i]):
                copy = replica(m, copy, f"tag_offset_d{i}_late{late}", g)
            if stage_of[i] == 0:
                return [copy]
            name = f"tag_offset_d{i}_late{stage_of[i]}"
            if stage_of[i] < cycles - 1:
                return [replica(m, copy, name, g)]
            parts = row_groups(len(groups[g]), SHIFT_LAST_STAGE_ROWS)
            return [replica(m, copy, f"{name}_s{part}", g) for part in range(len(parts))]

        selects = [[copies(g, i, digit) for i, digit in enumerate(digits)]
                   for g in range(len(groups))]

        def select_of(i, row):
            group_copies = selects[row // TAG_GROUP_ROWS][i]
            if len(group_copies) == 1:
                return group_copies[0]
            return group_copies[row % TAG_GROUP_ROWS // SHIFT_LAST_STAGE_ROWS]

        # The shifter's first stage reads the tags themselves, not a copy (Yosys packed a copy
        # with the next-tag logic and placed it between the far stages it fed: 12.6 ns from a
        # match to it at 256 rows). Its choice reaches 56 rows and ends in a register; the
        # last stage, into the tags, reaches only the 7 rows next to a tag (99.0 MHz at
        # 256 x 32 x 16 the other way round, with that stage's wires the slowest path), and
        # takes its digit from a copy per ``SHIFT_LAST_STAGE_ROWS`` rows.
        shifted = barrel_shift(m, tags, cycles, select_of)

        for g, rows in enumerate(groups):
            c = issued[g]
            next_tags = []
            for r in rows:
                tag, from_shift = tags[r], shifted[r] & c["take_shifted"]
                if_match = c["set_on_match"] | (tag & c["tag_on_match"]) | from_shift
                if_miss = (tag & c["tag_on_miss"]) | from_shift
                next_tags.append(Mux(self.match[r], if_match, if_miss))
            next_group = Signal(len(rows), name=f"next_tags_g{g}")
            m.d.comb += next_group.eq(Cat(*next_tags))
            m.d.sync += tags[rows.start:rows.stop].eq(next_group)

        # Stage 1, per group: its count, whether it has a tag, and its lowest tag.
        stage = []
        for g, rows in enumerate(groups):
            valid, index = priority_encoder(tags[rows.start:rows.stop])
            stage.append(self._reduced(m, f"g{g}", len(rows).bit_length(),
                                       index_split(TAG_GROUP_ROWS),
                                       popcount(tags[rows.start:rows.stop]), valid, index))
        # Stage 2, per region of groups; stage 3, across the regions.
        stage = [self._combined(m, f"r{r}", members)
                 for r, members in enumerate(by_region(stage, TAG_GROUP_ROWS))]
        count, any_, first = self._combined(m, "all", stage)
        m.d.comb += [
            self.any_match.eq(any_),
            self.first_valid.eq(any_),
            self.first_match.eq(first),
            self.count.eq(count),
        ]
        return m

    @staticmethod
    def _reduced(m, name: str, count_width: int, index_width: int, count, valid, index):
        """Registers holding a stage's (count, any, first) of its rows."""
        registers = (Signal(count_width, name=f"count_{name}", reset_less=True),
                     Signal(name=f"any_{name}", reset_less=True),
                     Signal(index_width, name=f"first_{name}", reset_less=True))
        m.d.sync += [registers[0].eq(count), registers[1].eq(valid), registers[2].eq(index)]
        return registers

    def _combined(self, m, name: str, parts: list) -> tuple:
        """The next stage's registers from ``parts``, the (count, any, first) of consecutive
        spans of rows, each span a power of two rows (but the last) with first as wide as
        its span's row numbers: the sum, any, and the lowest span's first behind its number."""
        valid, which = priority_encoder(Cat(*(any_ for _, any_, _ in parts)))
        inner = len(parts[0][2])
        width = min(index_bits(self.rows), inner + (len(parts) - 1).bit_length())
        first = Cat(Array(first for _, _, first in parts)[which], which) \
            if len(parts) > 1 else parts[0][2]
        most = sum((1 << len(count)) - 1 for count, _, _ in parts)
        return self._reduced(m, name, min(most.bit_length(), self.rows.bit_length()), width,
                             popcount_of(count for count, _, _ in parts), valid, first[:width])
