"""Lowering: a layer plan and its folded sums become bit-serial LUT passes (ISA instructions).

Every value lives in one track, bit i in domain i. An operation walks the port from domain 0
up over the bits it needs, runs the same passes at each domain, and shifts back down. Runs of
identical per-bit work become counted loops, so a program's size does not grow with widths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..isa import ArithMode, Combine, Instr, Opcode, Slot, arith
from ..params import MachineParams
from .cse import weight_matrix
from .ir import ChannelPlan, ChannelSum, GroupPlan, LayerPlan
from .schedule import Materialise, Operand, SignedOperand, schedule_group

CARRY, SCRATCH = 0, 1  # the two flag columns: carry/borrow, and a second bit
# CSE's ruin-and-recreate rounds pay on layers of a few blocks (channel groups x input
# tiles); on layers cut into more they found under 1% fewer adds for twice the compile time
# (ResNet-18 conv3_x: 0.5%), so those keep the greedy result.
IMPROVE_MAX_BLOCKS = 8


@dataclass(frozen=True)
class Segment:
    """``bits`` consecutive domains: ``prologue`` once at the first, ``body`` at each."""

    bits: int
    body: tuple[Instr, ...]
    prologue: tuple[Instr, ...] = ()


class Builder:
    """Collects instructions; knows the column numbering of one machine."""

    def __init__(self, params: MachineParams) -> None:
        self.params = params
        self.code: list[Instr] = []
        self.adds = 0  # two-operand adds/subtracts emitted so far
        self.temporaries = 0
        self.maxima = 0  # two-operand maxima (max-pool)

    def flag(self, index: int) -> int:
        return self.params.tracks + index

    @staticmethod
    def search(*keys: tuple[int, int], combine: Combine = Combine.SET) -> Instr:
        return Instr(Opcode.SEARCH, combine=combine, slots=tuple(Slot(c, v) for c, v in keys))

    @staticmethod
    def write(*values: tuple[int, int]) -> Instr:
        return Instr(Opcode.WRITE, slots=tuple(Slot(c, v) for c, v in values))

    def passes(self, lut, columns: Sequence[int]) -> tuple[Instr, ...]:
        """Each (key, value) as search-then-write; keys over ``columns``, writes the first."""
        out: list[Instr] = []
        for key, value in lut:
            out.append(self.search(*zip(columns, key, strict=True)))
            out.append(self.write(*zip(columns, value, strict=False)))
        return tuple(out)

    def shift(self, count: int, down: bool) -> list[Instr]:
        return [Instr(Opcode.SHIFT, count=count, down=down)] if count else []

    def repeat(self, times: int, body: Sequence[Instr]) -> list[Instr]:
        if times == 0:
            return []
        if times == 1:
            return list(body)
        return [Instr(Opcode.LOOP, count=times), *body, Instr(Opcode.ENDL)]

    def walk(self, segments: Sequence[Segment], back: bool = True) -> None:
        """Run the segments over consecutive domains from the port, then return the port
        (``back=False``: leave it at the last domain, for a walk down that follows)."""
        segments = [s for s in segments if s.bits]
        total = sum(s.bits for s in segments)
        if not total:
            return
        step = self.shift(1, down=False)
        for index, seg in enumerate(segments):
            self.code += seg.prologue
            last = index == len(segments) - 1
            self.code += self.repeat(seg.bits - 1 if last else seg.bits, [*seg.body, *step])
            if last:
                self.code += seg.body  # no shift after the final bit: the port stays in range
        if back:
            self.code += self.shift(total - 1, down=True)

    def walk_down(self, bits: int, body: Sequence[Instr]) -> None:
        """``body`` at each of ``bits`` domains from the port down, ending ``bits - 1``
        domains lower: work whose bits are independent needs no walk back up first."""
        self.code += self.repeat(bits - 1, [*body, *self.shift(1, down=True)])
        self.code += body

    def every_row(self, per_row: Instr, rows: int) -> tuple[Instr, ...]:
        """``per_row`` (a load+ or read+) for rows 0..rows-1 at the current domain."""
        return (Instr(Opcode.SETROW, row=0), *self.repeat(rows, [per_row]))


def lower_layer(plan: LayerPlan, sums: list[ChannelSum], thresholds: np.ndarray | None,
                params: MachineParams, rounds: int | None = None, load: bool = True,
                read: bool = True, halt: bool = True) -> tuple[list[Instr], dict[str, int]]:
    """The program, and its operation counts: ``add`` (two-operand adds/subtracts after CSE;
    a copy or negation is not one), ``temporaries`` (values computed once and shared) and
    ``max`` (a max-pool's two-operand maxima). ``rounds``: CSE improvement rounds per block
    (default: a budget per layer). Without ``load`` the inputs are already in tracks
    0..inputs-1 and without ``read`` the outputs stay in their tracks (both only for resident
    inputs; see :func:`rtmap.compiler.pipeline.compile_chain`); without ``halt`` the code
    runs on into whatever follows."""
    if plan.reloads and not (load and read):
        raise ValueError("tiled inputs are loaded and read out group by group")
    b = Builder(params)
    blocks = len(plan.groups) * (len(plan.tiles) if plan.reloads else 1)
    if rounds is None and blocks > IMPROVE_MAX_BLOCKS:
        rounds = 0
    weights = weight_matrix(sums, plan.inputs)
    if plan.reloads:
        for group in plan.groups:
            lower_tiled_group(b, plan, group, weights, thresholds, rounds, share=1 / blocks)
    else:
        if load:
            load_tile(b, plan, plan.inputs, masked=False)
        for group in plan.groups:
            ops = schedule_group(weights[[c.channel for c in group.channels]],
                                 [c.acc_bits for c in group.channels], plan.in_bits,
                                 cse_tracks(b.params, plan, group), rounds=rounds,
                                 share=1 / blocks)
            for op in ops:
                if isinstance(op, Materialise):
                    materialise(b, op)
                    continue
                channel = group.channels[op.position]
                if plan.kind == "maxpool":
                    b.maxima += maximum(b, channel.acc_track, channel.acc_bits, op.terms)
                    continue
                b.adds += accumulate(b, channel.acc_track, channel.acc_bits, op.terms)
                if thresholds is not None:
                    requantise(b, channel, thresholds[channel.channel])
            if read:
                read_out(b, plan, group)
    if halt:
        b.code.append(Instr(Opcode.HALT))
    return b.code, {"add": b.adds, "temporaries": b.temporaries, "max": b.maxima}


def cse_tracks(params: MachineParams, plan: LayerPlan, group: GroupPlan,
               inputs: int | None = None) -> list[int]:
    """Tracks for the CSE temporaries of a group: none for a max-pool (a maximum shares
    nothing), else the free ones."""
    if plan.kind == "maxpool":
        return []
    return free_tracks(params, plan.inputs if inputs is None else inputs, group)


def free_tracks(params: MachineParams, inputs: int, group: GroupPlan) -> list[int]:
    """Tracks a group's temporaries may use: neither inputs nor the group's own tracks."""
    taken = {t for c in group.channels for t in (c.track, c.acc_track)}
    return [t for t in range(inputs, params.tracks) if t not in taken]


def load_tile(b: Builder, plan: LayerPlan, count: int, masked: bool) -> None:
    """Load ``count`` inputs into tracks 0..count-1 of every row, bit i into domain i.
    ``masked``: write only those tracks (accumulators live in the others)."""
    last = count - 1 if masked else b.params.tracks - 1
    load = Instr(Opcode.LOAD, advance=True, first=0, last=last)
    b.walk([Segment(plan.in_bits, b.every_row(load, plan.active_rows))])


def hand_over(plan: LayerPlan) -> list[Instr]:
    """Move each output channel k of a one-group layer into track k, bit i in domain i: where
    a next layer's program expects its input k (see ``lower_layer(load=False)``)."""
    (group,) = plan.groups
    return [arith(ArithMode.MOV, c.channel, c.track, c.out_bits, c.out_bits)
            for c in group.channels]


def read_out(b: Builder, plan: LayerPlan, group: GroupPlan) -> None:
    read = Instr(Opcode.READ, advance=True)
    b.walk([Segment(group.read_bits, b.every_row(read, plan.active_rows))])


def materialise(b: Builder, op: Materialise) -> None:
    """Compute a shared temporary into its track."""
    b.adds += accumulate(b, op.track, op.bits, op.terms)
    b.temporaries += 1


def lower_tiled_group(b: Builder, plan: LayerPlan, group: GroupPlan, weights: np.ndarray,
                      thresholds: np.ndarray | None, rounds: int | None = None,
                      share: float = 1.0) -> None:
    """Resident accumulators, inputs streamed through tracks 0..tile-1 a tile at a time
    (``weights``: the layer's, output channels x inputs)."""
    everyone = b.search()
    for channel in group.channels:
        b.walk([Segment(channel.acc_bits, (b.write((channel.acc_track, 0)),), (everyone,))])
    added = [0] * len(group.channels)  # terms added into each accumulator so far
    rows = weights[[c.channel for c in group.channels]]
    for first, count in plan.tiles:
        load_tile(b, plan, count, masked=True)
        ops = schedule_group(rows[:, first:first + count], [c.acc_bits for c in group.channels],
                             plan.in_bits, cse_tracks(b.params, plan, group, count),
                             rounds=rounds, share=share)
        for op in ops:
            if isinstance(op, Materialise):
                materialise(b, op)
                continue
            channel = group.channels[op.position]
            if plan.kind == "maxpool":  # the zeroed start is below every input
                b.maxima += len(op.terms)
                max_terms(b, channel.acc_track, channel.acc_bits, op.terms)
                continue
            add_terms(b, channel.acc_track, channel.acc_bits, op.terms)
            added[op.position] += len(op.terms)
    b.adds += sum(max(n - 1, 0) for n in added)  # adding into the zeroed start is a copy
    if thresholds is not None:
        for channel in group.channels:
            requantise(b, channel, thresholds[channel.channel])
    read_out(b, plan, group)


def accumulate(b: Builder, dest: int, width: int, terms: Sequence[SignedOperand]) -> int:
    """``dest`` = the signed sum of the terms, in ``width`` bits two's complement. Returns
    the adds it cost: it starts from a copy (``mov``) of a positive term when there is one."""
    ordered = sorted(terms, key=lambda t: t[1] < 0)
    if ordered and ordered[0][1] > 0:
        src = ordered[0][0]
        b.code.append(arith(ArithMode.MOV, dest, src.track, _operand_bits(src, width), width))
        ordered = ordered[1:]
        adds = len(ordered)
    else:
        b.walk([Segment(width, (b.write((dest, 0)),), (b.search(),))])
        adds = max(len(ordered) - 1, 0)  # subtracting from zero is a negation
    add_terms(b, dest, width, ordered)
    return adds


def add_terms(b: Builder, dest: int, width: int, terms: Sequence[SignedOperand]) -> None:
    """``dest`` += each signed term, in ``width`` bits: one ``add``/``sub`` each, which runs
    the full passes over the term's bits and only the carry/borrow over the rest (an input
    is zero-extended)."""
    code = b.code
    for operand, sign in terms:
        code.append(arith(ArithMode.SUB if sign < 0 else ArithMode.ADD, dest, operand.track,
                          _operand_bits(operand, width), width))


def maximum(b: Builder, dest: int, width: int, terms: Sequence[SignedOperand]) -> int:
    """``dest`` = the largest of the (unsigned) terms: a copy of the first, then one
    two-operand maximum per other term. Returns the maxima it cost."""
    first, rest = terms[0], terms[1:]
    b.code.append(arith(ArithMode.MOV, dest, first[0].track, _operand_bits(first[0], width),
                        width))
    max_terms(b, dest, width, rest)
    return len(rest)


def max_terms(b: Builder, dest: int, width: int, terms: Sequence[SignedOperand]) -> None:
    """``dest`` = max(dest, each term), unsigned over ``width`` bits: the borrow of dest -
    term (carry flag) says where the term is larger, and there the term is copied in. The
    borrow runs up from bit 0; the copy's bits are independent, so it runs back down from
    the top bit and the port returns with it (half the shifts of two walks up)."""
    carry = b.flag(CARRY)
    clear = (b.search(), b.write((carry, 0)))
    for operand, _ in terms:
        src = operand.track
        borrow = (b.search((carry, 0), (dest, 0), (src, 1)), b.write((carry, 1)),
                  b.search((carry, 1), (dest, 1), (src, 0)), b.write((carry, 0)))
        b.walk([Segment(width, borrow, clear)], back=False)
        copy = (b.search((carry, 1), (src, 1)), b.write((dest, 1)),
                b.search((carry, 1), (src, 0)), b.write((dest, 0)))
        b.walk_down(width, copy)


def _operand_bits(operand: Operand, width: int) -> int:
    """The operand's bits an operation into ``width`` bits walks over."""
    bits = operand.bits
    if bits >= width:
        return width
    if operand.signed:
        raise AssertionError("a temporary narrower than its consumer would need sign extension")
    return bits


def requantise(b: Builder, channel: ChannelPlan, levels: np.ndarray) -> None:
    """channel.track = the number of levels the accumulator reaches (acc >= level)."""
    acc, width, out = channel.acc_track, channel.acc_bits, channel.track
    scratch = b.flag(SCRATCH)
    everyone = b.search()
    b.walk([Segment(channel.out_bits, (b.write((out, 0)),), (everyone,))])
    bias = 1 << (width - 1)  # compare as unsigned: acc + bias >= level + bias
    for level in levels.tolist():
        biased = int(level) + bias
        if biased >= 1 << width:
            continue  # above every accumulator value: never reached
        if biased <= 0:
            b.code += [everyone, b.write((scratch, 1))]  # below every value: always reached
        else:
            compare_at_least(b, acc, width, biased)
        increment = b.passes((((1, 0), (0, 1)), ((1, 1), (1, 0))), (scratch, out))
        b.walk([Segment(channel.out_bits, increment)])


def compare_at_least(b: Builder, acc: int, width: int, biased: int) -> None:
    """Flag SCRATCH = (acc + 2**(width-1) >= biased), by running only the borrow of a subtract."""
    carry, scratch = b.flag(CARRY), b.flag(SCRATCH)
    segments = []
    for bit in range(width):
        zero_key = 1 if bit == width - 1 else 0  # the bias flips the sign bit
        if biased >> bit & 1:  # borrow out = borrow in or biased acc bit is 0
            body = (b.search((carry, 0), (acc, zero_key)), b.write((carry, 1)))
        else:  # borrow out = borrow in and biased acc bit is 0
            body = (b.search((carry, 1), (acc, 1 - zero_key)), b.write((carry, 0)))
        if segments and segments[-1].body == body:  # runs of equal bits become one loop
            segments[-1] = Segment(segments[-1].bits + 1, body, segments[-1].prologue)
        else:
            segments.append(Segment(1, body))
    first = segments[0]
    segments[0] = Segment(first.bits, first.body,
                          (b.search(), b.write((carry, 0), (scratch, 0))))
    b.walk(segments)
    b.code += [b.search((carry, 0)), b.write((scratch, 1))]
