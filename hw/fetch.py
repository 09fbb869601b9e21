"""The front end: program memory, fetch, decode and the loop stack, three instructions ahead.

The controller issues the instruction in a register, :class:`Fetch`'s decoded output, never
the word on program memory's read port: block RAM is slow to its outputs (on an ECP5 the read
data comes 5.8 ns after the clock), so its word goes straight into a register (the *raw*
stage), is decoded from there into the *decode* stage's registers, and taken from those into
the *decoded* stage. (The raw stage's register is placed by program memory: at 256 rows, a
net from it to the decode logic took 6.4 ns, so the decode gets a cycle of its own.) While
the controller issues instruction i, the decode stage holds i + 1, the raw stage i + 2 and
the read port shows i + 3. One instruction per cycle, no bubbles (only the three cycles after
``start`` fill the stages). When the controller stalls, the read port, raw and decode stages
move once more, the decode stage's word into a *spare* register that the decoded stage takes
first: so the fetch address and the stages before the decoded one wait on registers only,
not on the controller's decision to advance, which is late in the cycle (it depends on the
host streams and the instruction's own cycles).

* the fetch address is the word after the one on the read port, which this block knows
  without looking at that word: only ``loop`` and ``endl`` change the flow, and their effect
  depends on the program alone. The loop stack lives here, and so does the *kind* (endl, other,
  a loop whose count is 1 or above it) of the word on the read port, in a register: a second,
  2-bit memory written with the program holds at each address the kind of the word *after*
  it, read beside each word; the kind of a loop body's first word is saved when its ``loop``
  is fetched, for the jumps back;
* the faults the program alone decides are found here too and ride along with the
  instruction (RAN_OFF_END, ILLEGAL, LOOP_STACK, in the priority of docs/ISA.md); the
  controller raises them when the instruction comes to issue.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..isa import (
    OPCODE_BITS,
    SEARCH_SLOTS,
    WRITE_SLOTS,
    ErrorCode,
    Opcode,
    field_offsets,
    instruction_layout,
    tshift_cycles,
)
from ..params import LOOP_DEPTH, MachineParams

__all__ = ["FILL_CYCLES", "KIND_BITS", "Fetch", "Kind", "prog_layout"]

# Cycles from ``start`` until the first instruction is decoded: the raw, decode and decoded
# stages fill.
FILL_CYCLES = 3


KIND_BITS = 2


class Kind(enum.Enum, shape=KIND_BITS):
    """What a word does to the flow of control, as far as fetching is concerned: a loop's
    kind tells whether its body runs again after the first pass (count > 1), so that pushing
    it never waits on the word itself (block RAM's read data comes late in the cycle)."""
    OTHER = 0
    LOOP_ONCE = 1
    ENDL = 2
    LOOP_AGAIN = 3


def _kind_of(opcode, loop_count, choose=Mux):
    """The Kind of a word with ``opcode`` and ``payload.loop.count``: Values, or ints with
    ``choose`` = :func:`_pick` (for the memory's initial contents)."""
    return choose(opcode == Opcode.LOOP.value,
                  choose(loop_count > 1, Kind.LOOP_AGAIN.value, Kind.LOOP_ONCE.value),
                  choose(opcode == Opcode.ENDL.value, Kind.ENDL.value, Kind.OTHER.value))


def _holds(value, predicate):
    """``predicate(value)`` as a lookup in a constant table (LUTs), not a comparator:
    synthesis builds comparators on the carry chain, and the 2T small chains of a load
    mask's decode were placed as rigid macros far from the fetch."""
    values = range(1 << len(value))
    return Const(sum(1 << v for v in values if predicate(v)), len(values)).bit_select(value, 1)


def _pick(condition: bool, if_true: int, if_false: int) -> int:
    return if_true if condition else if_false


def _kind_of_word(word: int, params: MachineParams) -> int:
    offset, width = field_offsets(params)["payload.loop.count"]
    return _kind_of(word & ((1 << OPCODE_BITS) - 1), word >> offset & ((1 << width) - 1),
                    choose=_pick)


def _is_loop(kind):
    return (kind == Kind.LOOP_ONCE.value) | (kind == Kind.LOOP_AGAIN.value)


def prog_layout(params: MachineParams) -> data.StructLayout:
    """Payload of the host's ``prog`` stream: the address (pc bits, LSB side), then the word."""
    return data.StructLayout({
        "addr": params.pc_bits,
        "word": instruction_layout(params).size,
    })


class Fetch(wiring.Component):
    """Program memory and the decoded instruction register.

    Members
    -------
    prog : In(stream.Signature(prog_layout(params)))
        Program memory writes; ready while ``idle`` and not ``start``. The program length
        becomes ``addr + 1``; writes with ``addr >= program_depth`` are dropped.
    idle : In(1)
        No run is in progress: nothing moves.
    start : In(1)
        (While idle.) Fetch from word 0: it is decoded ``FILL_CYCLES`` edges later.
    advance : In(1)
        (While not idle.) The decoded instruction completes in this cycle: the next one takes
        its place at the edge.
    valid : Out(1)
        The decoded stage holds an instruction (not so while the stages fill after ``start``).
    word : Out(instruction_layout(params))
        The instruction to execute (its raw fields), and beside it, decoded from it:
    pc : Out(pc_bits)
        Its address.
    fault : Out(ErrorCode)
        The fault it raises before doing anything (NONE if none): RAN_OFF_END, ILLEGAL or
        LOOP_STACK.
    key, mask : Out(T + 2); match_void : Out(1)
        Its SEARCH's or WRITE's slots as a key and a column mask (for WRITE a later slot naming
        the same column wins); two enabled SEARCH slots naming one column with different
        values (no row can match).
    load_mask : Out(T)
        The tracks ``first..last`` of its LOAD.
    shift_cycles : Out
        Its SHIFT's count x ``shift_latency``, or its TSHIFT's ``tshift_cycles(R)``.
    shift_count : Out(bits of D + 1)
        Its SHIFT's count, or D if larger (enough for the range check, and short).
    shift_single : Out(1)
        Its SHIFT or TSHIFT takes one cycle (``shift_cycles == 1``).
    simple, is_shift, is_arith, is_load, is_emit : Out(1)
        Its opcode, as far as how long it takes: one cycle always (SEARCH, WRITE, SETROW,
        LOOP, ENDL); ``shift_cycles`` (SHIFT or TSHIFT); ARITH; LOAD; READ or TQUERY.
    """

    def __init__(self, params: MachineParams, program: list[int]):
        self.params = params
        self.program = program
        layout = instruction_layout(params)
        super().__init__({
            "prog": In(stream.Signature(prog_layout(params))),
            "idle": In(1),
            "start": In(1),
            "advance": In(1),
            "valid": Out(1),
            "word": Out(layout),
            "pc": Out(params.pc_bits),
            "fault": Out(ErrorCode),
            "key": Out(params.columns),
            "mask": Out(params.columns),
            "match_void": Out(1),
            "load_mask": Out(params.tracks),
            "shift_cycles": Out(params.imm_bits + params.shift_latency.bit_length()),
            "shift_count": Out(params.domains.bit_length()),
            "shift_single": Out(1),
            "simple": Out(1),
            "is_shift": Out(1),
            "is_arith": Out(1),
            "is_load": Out(1),
            "is_emit": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        layout = instruction_layout(p)
        kinds = [_kind_of_word(word, p) for word in self.program]

        mem = Memory(shape=layout.size, depth=p.program_depth, init=self.program)
        # At each address, the kind of the word after it (the last word's: OTHER).
        next_kinds = Memory(shape=KIND_BITS, depth=p.program_depth, init=kinds[1:])
        m.submodules.program = mem
        m.submodules.next_kinds = next_kinds
        wr, kind_wr = mem.write_port(), next_kinds.write_port()
        # Not transparent: writes come only while idle (``prog`` is not ready in the start
        # cycle), reads only matter while running, so a read never meets a write to its word
        # at the same edge, and the bypass logic a transparent port needs would be wasted.
        rd = mem.read_port()
        kind_rd = next_kinds.read_port()

        # Like program memory, the length and word 0's kind survive rst: they belong to the
        # loaded program.
        length = Signal(p.pc_bits, init=len(self.program), reset_less=True)
        first_kind = Signal(KIND_BITS, init=kinds[0] if kinds else Kind.OTHER.value,
                            reset_less=True)
        written = self.prog.payload
        m.d.comb += self.prog.ready.eq(self.idle & ~self.start)
        with m.If(self.prog.valid & self.prog.ready & (written.addr < p.program_depth)):
            fields = layout(written.word)
            kind = _kind_of(fields.opcode.as_value(), fields.payload.loop.count)
            m.d.comb += [wr.en.eq(1), wr.addr.eq(written.addr), wr.data.eq(written.word)]
            m.d.sync += length.eq(written.addr + 1)
            with m.If(written.addr == 0):
                m.d.sync += first_kind.eq(kind)
            with m.Else():
                m.d.comb += [kind_wr.en.eq(1), kind_wr.addr.eq(written.addr - 1),
                             kind_wr.data.eq(kind)]

        # -- stage F: the word on the read port (at ``f_pc``, of kind ``f_kind``) ---------------
        f_valid = Signal()
        # (Registers that ``start`` sets, or that matter only beside a valid flag, do not
        # reset: the fewer loads ``rst`` has, the shorter its net across a board's chip.)
        f_pc = Signal(p.pc_bits, reset_less=True)
        # f_pc + 1, kept beside it (see ``address``)
        f_pc_next = Signal(p.pc_bits, init=1, reset_less=True)
        f_kind = Signal(KIND_BITS)  # a Kind
        # -- stage R: the raw word, and the faults found with it -------------------------------
        r_valid = Signal()
        r_word = Signal(layout.size, reset_less=True)
        r_pc = Signal(p.pc_bits, reset_less=True)
        r_fault = Signal(ErrorCode)  # RAN_OFF_END or LOOP_STACK (ILLEGAL is decoded next)

        # The loop stack, as of the instructions before the word at F.
        depth = Signal(range(LOOP_DEPTH + 1))
        # Entry 0 is the innermost open loop: a push shifts the entries down, a pop up, so the
        # jump back reads fixed registers (no index by depth on the fetch address's path).
        # (Read only below ``depth``: no reset.)
        entries = [{"start": Signal(p.pc_bits, name=f"loop_start{i}", reset_less=True),
                    # start + 1
                    "start_next": Signal(p.pc_bits, name=f"loop_start_next{i}",
                                         reset_less=True),
                    "left": Signal(p.imm_bits, name=f"loop_left{i}", reset_less=True),
                    # the Kind of the loop body's first word
                    "kind": Signal(KIND_BITS, name=f"start_kind{i}", reset_less=True),
                    "again": Signal(name=f"again{i}", reset_less=True)}  # left > 1
                   for i in range(LOOP_DEPTH)]
        innermost = entries[0]
        # ``(depth != 0) & innermost["again"]``, kept as a register of its own: an endl at F
        # jumps back. (So ``back``, on the read address's path, waits on 3 register bits.)
        loop_repeats = Signal()
        back = Signal()  # the word at F is an endl that jumps back
        m.d.comb += back.eq((f_kind == Kind.ENDL) & loop_repeats)

        # The decode stage's word can wait in a *spare* register: when the controller does not
        # take the decoded word, the read port, raw and decode stages still move once, the
        # decode stage's word into the spare, and the decoded stage takes the spare first. So
        # whether the fetch, raw and decode stages move (``flow``) is a register's, not the
        # controller's late decision (``advance``), which reaches only the decoded stage
        # (``take``).
        spare_full = Signal()
        flow = Signal()  # the fetch, raw and decode stages take the stage before them
        take = Signal()  # the decoded stage takes the spare, or else the decode stage
        m.d.comb += [flow.eq(~self.idle & ~spare_full),
                     take.eq(~self.idle & (~self.valid | self.advance))]
        # The next word's address: a choice among registers (an adder before it made the two
        # memories' read address a critical path at 256 rows), and as wide as the pc, so
        # that the word past the last of a full memory of 2^n words is 2^n, off the end, not
        # word 0 again. While idle the read port shows word 0, ready for a ``start``, which
        # is thus not on the address's path (on a board it comes from the host link, across
        # the chip).
        address = Signal(p.pc_bits)
        with m.If(self.idle):
            m.d.comb += address.eq(0)
        with m.Elif(flow):
            m.d.comb += address.eq(Mux(back, innermost["start"], f_pc_next))
            m.d.sync += f_pc_next.eq(Mux(back, innermost["start_next"], f_pc_next + 1))
        with m.Else():
            m.d.comb += address.eq(f_pc)
        m.d.comb += [rd.addr.eq(address), kind_rd.addr.eq(address)]
        m.d.sync += f_pc.eq(address)

        # The loop stack's next depth and innermost ``again``, for ``loop_repeats``.
        depth_next = Signal.like(depth)
        again_next = Signal()
        m.d.comb += [depth_next.eq(depth), again_next.eq(innermost["again"])]
        m.d.sync += [depth.eq(depth_next), loop_repeats.eq((depth_next != 0) & again_next)]
        # ``start`` comes while idle, ``flow`` never does: so the two need no priority, and the
        # stages' and loop stack's enables do not wait on ``start`` (on a board it comes from
        # the host link, across the chip, and the enables drive hundreds of flip-flops).
        with m.If(self.start):
            m.d.comb += depth_next.eq(0)
            m.d.sync += [f_valid.eq(1), f_kind.eq(first_kind), f_pc_next.eq(1), r_valid.eq(0),
                         self.valid.eq(0), spare_full.eq(0)]
        with m.If(flow):
            f_payload = layout(rd.data).payload
            m.d.sync += [
                f_kind.eq(Mux(back, innermost["kind"], kind_rd.data)),
                r_valid.eq(f_valid),
                r_word.eq(rd.data),
                r_pc.eq(f_pc),
                r_fault.eq(ErrorCode.NONE),
            ]
            with m.If(f_pc >= length):
                m.d.sync += r_fault.eq(ErrorCode.RAN_OFF_END)
            with m.Elif((_is_loop(f_kind) & (depth == LOOP_DEPTH))
                        | ((f_kind == Kind.ENDL) & (depth == 0))):
                m.d.sync += r_fault.eq(ErrorCode.LOOP_STACK)
            with m.If(f_valid & _is_loop(f_kind)):  # push (past 4: LOOP_STACK, above)
                for inner, outer in zip(entries, entries[1:], strict=False):
                    m.d.sync += [outer[k].eq(inner[k]) for k in outer]
                m.d.sync += [
                    innermost["start"].eq(f_pc_next),
                    innermost["start_next"].eq(f_pc_next + 1),
                    innermost["left"].eq(f_payload.loop.count),
                    innermost["kind"].eq(kind_rd.data),
                    innermost["again"].eq(f_kind == Kind.LOOP_AGAIN),
                ]
                m.d.comb += [depth_next.eq(depth + 1),
                             again_next.eq(f_kind == Kind.LOOP_AGAIN)]
            with m.If(f_valid & (f_kind == Kind.ENDL)):
                with m.If(back):
                    m.d.sync += [innermost["left"].eq(innermost["left"] - 1),
                                 innermost["again"].eq(innermost["left"] > 2)]
                    m.d.comb += again_next.eq(innermost["left"] > 2)
                with m.Else():  # pop (with none open: LOOP_STACK, above)
                    for inner, outer in zip(entries, entries[1:], strict=False):
                        m.d.sync += [inner[k].eq(outer[k]) for k in inner]
                    m.d.comb += [depth_next.eq(depth - 1), again_next.eq(entries[1]["again"])]

        # -- the decode stage: the raw word decoded, in registers shaped as the decoded stage's.
        # So the raw stage's register, which the placer puts by program memory, drives only
        # the decode logic, and the decoded stage chooses between registers.
        decoded = self._decode(m, r_valid, r_word, r_pc, r_fault)
        # The decoded stage: registers driving the outputs. Of each stage only ``valid``
        # resets.
        stages = {name: Value.cast(self.valid) if name == "valid" else
                  Signal(len(Value.cast(getattr(self, name))), name=f"decoded_{name}",
                         reset_less=True)
                  for name in decoded}
        m.d.comb += [Value.cast(getattr(self, name)).eq(stage)
                     for name, stage in stages.items() if name != "valid"]
        decode = {name: Signal(len(stage), name=f"decode_{name}", reset_less=name != "valid")
                  for name, stage in stages.items()}
        with m.If(self.start):
            m.d.sync += decode["valid"].eq(0)
        with m.If(flow):  # (not with ``start``, as above)
            m.d.sync += [decode[name].eq(value) for name, value in decoded.items()]

        # (Neither ``take`` nor ``flow`` while idle, so not with ``start``.)
        spares = {name: Signal(len(stage), name=f"spare_{name}", reset_less=name != "valid")
                  for name, stage in stages.items()}
        with m.If(take):
            m.d.sync += spare_full.eq(0)
            m.d.sync += [stage.eq(Mux(spare_full, spares[name], decode[name]))
                         for name, stage in stages.items()]
        with m.Elif(flow & decode["valid"]):
            m.d.sync += spare_full.eq(1)
        # With ``flow`` the spare is empty and takes the decode stage's word, which counts
        # only if the decoded stage does not take it too: so its enable waits on registers,
        # not on ``take``.
        with m.If(flow):
            m.d.sync += [spares[name].eq(decode[name]) for name in stages]
        return m

    def _decode(self, m, r_valid, r_word, r_pc, r_fault) -> dict:
        """The raw stage's word decoded: the value of each output of the decoded stage."""
        p = self.params
        word = instruction_layout(p)(r_word)
        opcode = r_word[:OPCODE_BITS]
        payload = word.payload
        is_op = {op: opcode == op.value for op in Opcode}
        illegal = self._illegal(m, word, opcode, is_op)
        tag_shift_cycles = tshift_cycles(p.rows)
        key, mask, void = self._key_and_mask(m, payload, is_op)
        return {
            "valid": r_valid,
            "word": r_word,
            "pc": r_pc,
            "fault": Mux(illegal & (r_fault != ErrorCode.RAN_OFF_END), ErrorCode.ILLEGAL,
                         r_fault),
            "load_mask": Cat(*(_holds(payload.io.first, lambda v, j=j: v <= j)
                               & _holds(payload.io.last, lambda v, j=j: v >= j)
                               for j in range(p.tracks))),
            "shift_cycles": Mux(is_op[Opcode.TSHIFT], tag_shift_cycles,
                                payload.shift.count * p.shift_latency),
            "shift_count": Mux(payload.shift.count > p.domains, p.domains,
                               payload.shift.count),
            "shift_single": Mux(is_op[Opcode.TSHIFT], tag_shift_cycles == 1,
                                payload.shift.count == 1 if p.shift_latency == 1 else 0),
            "simple": opcode.matches(*(op.value for op in (
                Opcode.SEARCH, Opcode.WRITE, Opcode.SETROW, Opcode.LOOP, Opcode.ENDL))),
            "is_shift": is_op[Opcode.SHIFT] | is_op[Opcode.TSHIFT],
            "is_arith": is_op[Opcode.ARITH],
            "is_load": is_op[Opcode.LOAD],
            "is_emit": is_op[Opcode.READ] | is_op[Opcode.TQUERY],
            "key": key,
            "mask": mask,
            "match_void": void,
        }

    def _illegal(self, m, word, opcode, is_op):
        """The word is not an instruction this machine can run (docs/ISA.md, ILLEGAL)."""
        p = self.params
        payload = word.payload
        arith = payload.arith

        def bad_columns(slots, count):
            return Cat(*(slots[i].enable & (slots[i].col >= p.columns)
                         for i in range(count))).any()

        illegal = Signal()
        # (Only when the field can hold more than D: Verilator flags constant comparisons.)
        arith_too_wide = (arith.width > p.domains
                          if (1 << len(arith.width)) - 1 > p.domains else Const(0))
        m.d.comb += illegal.eq(
            ~opcode.matches(*(op.value for op in Opcode))
            | (is_op[Opcode.SEARCH] & bad_columns(payload.search.slots, SEARCH_SLOTS))
            | (is_op[Opcode.WRITE] & bad_columns(payload.write.slots, WRITE_SLOTS))
            | (is_op[Opcode.SHIFT] & (payload.shift.count == 0))
            | (is_op[Opcode.LOOP] & (payload.loop.count == 0))
            | (is_op[Opcode.TSHIFT] & (payload.shift.count == 0))
            | (is_op[Opcode.TQUERY] & (payload.query.what == 3))
            | (is_op[Opcode.LOAD] & ((payload.io.first > payload.io.last)
                                     | (payload.io.last >= p.tracks)))
            | (is_op[Opcode.ARITH] & ((arith.mode.as_value() == 3)
                                      | (arith.dest >= p.tracks) | (arith.src >= p.tracks)
                                      | (arith.dest == arith.src) | (arith.bits == 0)
                                      | (arith.bits > arith.width)
                                      | arith_too_wide)))
        return illegal

    def _key_and_mask(self, m, payload, is_op) -> tuple:
        """The SEARCH's or WRITE's slots as a key and a mask, and match_void."""
        p = self.params
        key = Signal(p.columns)
        mask = Signal(p.columns)

        def place(slots, count):
            for i in range(count):  # in slot order, so a later slot wins
                with m.If(slots[i].enable):
                    m.d.comb += [
                        mask.bit_select(slots[i].col, 1).eq(1),
                        key.bit_select(slots[i].col, 1).eq(slots[i].value),
                    ]

        with m.If(is_op[Opcode.SEARCH]):
            place(payload.search.slots, SEARCH_SLOTS)
        with m.Else():
            place(payload.write.slots, WRITE_SLOTS)
        slots = payload.search.slots
        void = Cat(*(slots[i].enable & slots[j].enable & (slots[i].col == slots[j].col)
                     & (slots[i].value != slots[j].value)
                     for i in range(SEARCH_SLOTS) for j in range(i + 1, SEARCH_SLOTS))).any()
        return key, mask, void
