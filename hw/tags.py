"""Tag logic: one tag bit per row, combined with each search's match vector."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..isa import Combine
from .cam_array import index_bits, rejected

__all__ = ["TagLogic", "barrel_shift", "priority_encoder", "popcount"]


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


def barrel_shift(m: Module, bits, amount, down):
    """``bits`` shifted by ``amount`` toward the high end (or the low end when ``down``),
    zeros shifted in: one stage per bit of ``amount``, each a shift by a power of two or not.
    Each stage is a signal of its own: as one expression, every stage would use the previous
    one three times and Amaranth would build the tree 3**stages times over."""
    width = len(bits)
    value = bits
    for stage in range(len(amount)):
        step = 1 << stage
        out = Signal(width, name=f"shifted_{stage}")
        if step >= width:  # this and higher amount bits shift everything out
            m.d.comb += out.eq(Mux(amount[stage:].any(), 0, value))
            return out
        moved = Mux(down, value[step:], Cat(Const(0, step), value[:width - step]))
        m.d.comb += out.eq(Mux(amount[stage], moved, value))
        value = out
    return value


def popcount(bits):
    """Number of set bits, as a balanced adder tree."""
    terms = [bits[i] for i in range(len(bits))]
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


class TagLogic(wiring.Component):
    """The tag register and what the controller and host read off it.

    Parameters
    ----------
    rows : int
        R, the number of tag bits (one per CAM row).

    Members
    -------
    match : In(R)
        This search's per-row match.
    update : In(1)
        At the next clock edge, the tags become ``combine(tags, match)``.
    combine : In(Combine)
        SET: ``match``; AND: ``tags & match``; OR: ``tags | match``; ANDN: ``tags & ~match``.
    clear : In(1)
        At the next clock edge, all tags become 0 (wins over ``update`` and ``shift``).
    shift : In(1); shift_down : In(1); shift_count : In(count_width)
        At the next clock edge, every tag moves ``shift_count`` rows toward row R-1 (or
        toward row 0 with ``shift_down``); rows shifted in get 0. A barrel shifter of
        log2 stages, so any stride takes one cycle. ``update`` wins over ``shift``.
    tags : Out(R)
        The tag register.
    any_match : Out(1)
        Some tag is set (combinational from ``tags``).
    first_match : Out(index_bits(R))
        Index of the lowest set tag; 0 when none is set.
    first_valid : Out(1)
        Same as ``any_match``: ``first_match`` is meaningful.
    count : Out(bits of R)
        Number of set tags.
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

        with m.If(self.clear):
            m.d.sync += tags.eq(0)
        with m.Elif(self.update):
            with m.Switch(self.combine):
                with m.Case(Combine.SET):
                    m.d.sync += tags.eq(self.match)
                with m.Case(Combine.AND):
                    m.d.sync += tags.eq(tags & self.match)
                with m.Case(Combine.OR):
                    m.d.sync += tags.eq(tags | self.match)
                with m.Case(Combine.ANDN):
                    m.d.sync += tags.eq(tags & ~self.match)
        with m.Elif(self.shift):
            m.d.sync += tags.eq(barrel_shift(m, tags, self.shift_count, self.shift_down))

        valid, index = priority_encoder(tags)
        m.d.comb += [
            self.any_match.eq(tags.any()),
            self.first_valid.eq(valid),
            self.first_match.eq(index),
            self.count.eq(popcount(tags)),
        ]
        return m
