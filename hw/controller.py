"""The microcode sequencer: program memory, fetch, decode, loops, stalls, errors and counters.

Timing (see docs/HW.md): program memory has a synchronous read port addressed by the *next*
pc, so the word at ``pc`` is on the read port's data in the cycle the instruction executes and
one instruction completes per cycle. A stalled or multi-cycle instruction presents its own pc
again; a taken ``endl`` presents the loop's body start.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..isa import (
    COUNTERS,
    OPCODE_BITS,
    SEARCH_SLOTS,
    WRITE_SLOTS,
    Combine,
    ErrorCode,
    Opcode,
    Query,
    instruction_layout,
)
from ..params import COUNTER_BITS, LOOP_DEPTH, MachineParams
from .arith import ArithSequencer
from .cam_array import index_bits, rejected

__all__ = ["COUNTER_NAMES", "Controller", "host_members", "prog_layout"]

COUNTER_NAMES = COUNTERS  # the performance counters, in the order docs/ISA.md lists them


def prog_layout(params: MachineParams) -> data.StructLayout:
    """Payload of the host's ``prog`` stream: the address (pc bits, LSB side), then the word."""
    return data.StructLayout({
        "addr": params.pc_bits,
        "word": instruction_layout(params).size,
    })


def host_members(params: MachineParams) -> dict:
    """The host side of the processor (docs/ISA.md "Hardware ports"), shared by the
    controller and the top, whose ports these are."""
    members = {
        "start": In(1),
        "busy": Out(1),
        "done": Out(1),
        "error": Out(1),
        "error_code": Out(ErrorCode),
        "prog": In(stream.Signature(prog_layout(params))),
        "data_in": In(stream.Signature(params.tracks)),
        "data_out": Out(stream.Signature(params.tracks)),
    }
    members.update({name: Out(COUNTER_BITS) for name in COUNTER_NAMES})
    return members


def _check_program(program, params: MachineParams) -> list[int]:
    words = list(program or [])
    if len(words) > params.program_depth:
        raise ValueError(f"program of {len(words)} words does not fit program_depth="
                         f"{params.program_depth}")
    width = instruction_layout(params).size
    for addr, word in enumerate(words):
        if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word < (1 << width):
            raise ValueError(f"program word {addr} is {word!r}, not a {width}-bit unsigned "
                             f"integer")
    return words


class Controller(wiring.Component):
    """Fetches, decodes and executes the ISA of docs/ISA.md, one instruction per cycle (a
    shift takes count x latency cycles, an add/sub those of its micro steps).

    Parameters
    ----------
    params : MachineParams
    program : list of int, optional
        Initial program memory contents; the program length register starts at its length
        (0 without a program: a run then stops at once with RAN_OFF_END).

    Members (host side; the same as :class:`rtmap.hw.top.RtmapTop`'s ports)
    ------------------------------------------------------------------------
    start : In(1)
        While idle, begins a run at the next clock edge; ignored while busy.
    busy : Out(1)
        A run is in progress. The first instruction executes in the cycle after ``start``.
    done, error : Out(1)
        The run ended with HALT / with a fault. Rise at the clock edge that ends the HALT's
        (or faulting instruction's) cycle, together with the final counter values; stay until
        the next ``start``.
    error_code : Out(ErrorCode)
        Why the run faulted (NONE unless ``error``).
    prog : In(stream.Signature(prog_layout(params)))
        Program memory writes; ready while idle. The program length becomes ``addr + 1``.
        Writes with ``addr >= program_depth`` are accepted and dropped.
    data_in : In(stream.Signature(T))
        Words for LOAD; ready only in a cycle in which a LOAD executes.
    data_out : Out(stream.Signature(T))
        Words from READ; valid only while a READ waits to execute (payload: row ``rp``).
    cycles, searches, writes, shifts, io_words : Out(32)
        The counters of docs/ISA.md.
    pc : Out(pc_bits)
        The pc (for debugging; it keeps the faulting instruction's address after an error).

    Members (array side; :class:`RtmapTop` wires them)
    --------------------------------------------------
    key, mask : Out(T + 2)
        The current SEARCH's or WRITE's slots as a key and a column mask (for WRITE, a later
        slot naming the same column wins).
    match_void : Out(1)
        Two enabled SEARCH slots name one column with different values: no row matches.
    tag_update, tag_clear : Out(1); tag_combine : Out(Combine)
    tag_shift, tag_shift_down : Out(1); tag_shift_count : Out(imm_bits)
        Drive :class:`TagLogic`'s shift (TSHIFT).
    tag_count, tag_first, tag_any : In
        What TQUERY pushes to ``data_out`` (``tag_first`` is only read when ``tag_any``).
        Drive :class:`TagLogic` (SEARCH updates; ``start`` clears).
    write_en : Out(1)
        A WRITE executes: write ``key`` under ``mask`` into the tagged rows.
    row : Out(index_bits(R)); load_en : Out(1); load_data, load_mask : Out(T);
    read_data : In(T)
        LOAD/READ at row ``rp``.
    shift_en : Out(1); shift_to : Out(index_bits(D)); port : In(index_bits(D))
        Move the array's port (once per SHIFT, in its first cycle; to 0 at ``start``).
    """

    def __init__(self, params: MachineParams, program=None):
        if not isinstance(params, MachineParams):
            raise rejected(self, TypeError(f"params must be a MachineParams, not {params!r}"))
        self.params = params
        try:
            self.program = _check_program(program, params)
        except ValueError as exc:
            raise rejected(self, exc) from None
        tracks, columns = params.tracks, params.columns
        members = host_members(params)
        members.update({
            "pc": Out(params.pc_bits),
            "key": Out(columns),
            "mask": Out(columns),
            "match_void": Out(1),
            "tag_update": Out(1),
            "tag_combine": Out(Combine),
            "tag_clear": Out(1),
            "tag_shift": Out(1),
            "tag_shift_down": Out(1),
            "tag_shift_count": Out(params.imm_bits),
            "tag_count": In(params.rows.bit_length()),
            "tag_first": In(index_bits(params.rows)),
            "tag_any": In(1),
            "write_en": Out(1),
            "row": Out(index_bits(params.rows)),
            "load_en": Out(1),
            "load_data": Out(tracks),
            "load_mask": Out(tracks),
            "read_data": In(tracks),
            "shift_en": Out(1),
            "shift_to": Out(index_bits(params.domains)),
            "port": In(index_bits(params.domains)),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        layout = instruction_layout(p)

        # -- program memory ---------------------------------------------------------------
        mem = Memory(shape=layout.size, depth=p.program_depth, init=self.program)
        m.submodules.program = mem
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))  # a word written while idle reads back new

        # -- state ----------------------------------------------------------------------------
        running = Signal()
        done = Signal()
        error = Signal()
        error_code = Signal(ErrorCode)
        pc = Signal(p.pc_bits)
        # Like program memory, the length survives rst: it belongs to the loaded program.
        length = Signal(p.pc_bits, init=len(self.program), reset_less=True)
        rp = Signal(p.imm_bits)  # SETROW takes any immediate; LOAD/READ check it against R
        depth = Signal(range(LOOP_DEPTH + 1))
        loop_start = Array(Signal(p.pc_bits, name=f"loop_start{i}") for i in range(LOOP_DEPTH))
        loop_left = Array(Signal(p.imm_bits, name=f"loop_left{i}") for i in range(LOOP_DEPTH))
        top = Signal(range(LOOP_DEPTH))  # index of the innermost open loop
        m.d.comb += top.eq(depth - 1)
        push = Signal(range(LOOP_DEPTH))
        m.d.comb += push.eq(depth)
        shifting = Signal()  # in the second or later cycle of a SHIFT
        longest_shift = max(1, (p.domains - 1) * p.shift_latency)
        shift_left = Signal(range(longest_shift + 1))  # cycles still to go, this one included
        counters = {name: Signal(COUNTER_BITS, name=f"count_{name}") for name in COUNTER_NAMES}

        query_out = Signal()  # a TQUERY, not a READ, drives data_out this cycle
        query_value = Signal(max(p.rows.bit_length(), index_bits(p.rows)))
        m.d.comb += [
            self.busy.eq(running),
            self.done.eq(done),
            self.error.eq(error),
            self.error_code.eq(error_code),
            self.pc.eq(pc),
            self.row.eq(rp),
            self.load_data.eq(self.data_in.payload),
            self.data_out.payload.eq(Mux(query_out, query_value, self.read_data)),

        ]
        m.d.comb += [getattr(self, name).eq(sig) for name, sig in counters.items()]

        # -- fetch ---------------------------------------------------------------------------
        pc_next = Signal(p.pc_bits)  # the pc of the next cycle's instruction
        m.d.comb += [pc_next.eq(pc), rd.addr.eq(Mux(running, pc_next, 0))]
        with m.If(running):
            m.d.sync += pc.eq(pc_next)
        insn = layout(rd.data)
        opcode = rd.data[:OPCODE_BITS]  # the layout's first field, as raw bits
        payload = insn.payload

        # -- decode ---------------------------------------------------------------------------
        is_op = {op: opcode == op.value for op in Opcode}
        arith = payload.arith
        m.submodules.arith = seq = ArithSequencer(p)
        m.d.comb += [seq.mode.eq(arith.mode), seq.dest.eq(arith.dest), seq.src.eq(arith.src),
                     seq.bits.eq(arith.bits), seq.width.eq(arith.width)]

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
            | (is_op[Opcode.WRITE] & bad_columns(payload.write.slots,
                                                 WRITE_SLOTS))
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
        # LOAD writes tracks first..last of the row.
        # (Track 0 needs no "last >= 0": Verilator flags comparisons that are constant.)
        m.d.comb += self.load_mask.eq(Cat(*(
            payload.io.first == 0 if j == 0 else (payload.io.first <= j) & (j <= payload.io.last)
            for j in range(p.tracks))))

        def key_and_mask(slots, count):
            for i in range(count):  # in slot order, so a later slot wins
                with m.If(slots[i].enable):
                    m.d.comb += [
                        self.mask.bit_select(slots[i].col, 1).eq(1),
                        self.key.bit_select(slots[i].col, 1).eq(slots[i].value),
                    ]

        with m.If(is_op[Opcode.ARITH]):
            m.d.comb += [self.key.eq(seq.key), self.mask.eq(seq.mask)]
        with m.Elif(is_op[Opcode.SEARCH]):
            key_and_mask(payload.search.slots, SEARCH_SLOTS)
        with m.Else():
            key_and_mask(payload.write.slots, WRITE_SLOTS)

        slots = payload.search.slots
        m.d.comb += self.match_void.eq(~is_op[Opcode.ARITH] & Cat(*(
            slots[i].enable & slots[j].enable & (slots[i].col == slots[j].col)
            & (slots[i].value != slots[j].value)
            for i in range(SEARCH_SLOTS) for j in range(i + 1, SEARCH_SLOTS))).any())
        m.d.comb += [
            self.tag_combine.eq(Mux(is_op[Opcode.ARITH], Combine.SET, payload.search.combine)),
            self.tag_shift_down.eq(payload.shift.down),
            self.tag_shift_count.eq(payload.shift.count),
        ]
        with m.Switch(payload.query.what):
            with m.Case(Query.COUNT):
                m.d.comb += query_value.eq(self.tag_count)
            with m.Case(Query.FIRST):  # R when no row is tagged
                m.d.comb += query_value.eq(Mux(self.tag_any, self.tag_first, p.rows))
            with m.Case(Query.ANY):
                m.d.comb += query_value.eq(self.tag_any)

        # -- execute --------------------------------------------------------------------------
        count_cycle = Signal()  # an instruction executes in this cycle (not a stall, no fault)
        fault = Signal()
        fault_code = Signal(ErrorCode)
        rp_next = Signal(p.imm_bits)
        m.d.comb += rp_next.eq(rp + 1)
        inc = pc + 1

        def advance_rp(flag):
            with m.If(flag):
                m.d.sync += rp.eq(rp_next)

        shift = payload.shift
        shift_total = shift.count * p.shift_latency
        port_high = self.port + shift.count  # wide enough: no wrap-around
        off_range = Mux(shift.down, shift.count > self.port, port_high > p.domains - 1)

        with m.If(running):
            with m.If(pc >= length):
                m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.RAN_OFF_END)]
            with m.Elif(illegal):
                m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.ILLEGAL)]
            with m.Else():
                with m.Switch(opcode):
                    with m.Case(Opcode.HALT):
                        m.d.comb += count_cycle.eq(1)
                        m.d.sync += [done.eq(1), running.eq(0)]
                    with m.Case(Opcode.SEARCH):
                        m.d.comb += [count_cycle.eq(1), self.tag_update.eq(1), pc_next.eq(inc)]
                        m.d.sync += counters["searches"].eq(counters["searches"] + 1)
                    with m.Case(Opcode.WRITE):
                        m.d.comb += [count_cycle.eq(1), self.write_en.eq(1), pc_next.eq(inc)]
                        m.d.sync += counters["writes"].eq(counters["writes"] + 1)
                    with m.Case(Opcode.SHIFT):
                        with m.If(shifting):
                            m.d.comb += count_cycle.eq(1)
                            with m.If(shift_left == 1):
                                m.d.comb += pc_next.eq(inc)
                                m.d.sync += shifting.eq(0)
                            with m.Else():
                                m.d.sync += shift_left.eq(shift_left - 1)
                        with m.Elif(off_range):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.PORT_RANGE)]
                        with m.Else():
                            m.d.comb += [
                                count_cycle.eq(1),
                                self.shift_en.eq(1),
                                self.shift_to.eq(Mux(shift.down, self.port - shift.count,
                                                     port_high)),
                            ]
                            m.d.sync += counters["shifts"].eq(counters["shifts"] + shift.count)
                            with m.If(shift_total == 1):
                                m.d.comb += pc_next.eq(inc)
                            with m.Else():
                                m.d.sync += [shifting.eq(1), shift_left.eq(shift_total - 1)]
                    with m.Case(Opcode.ARITH):
                        # The port range is checked before the first micro step; after it
                        # nothing can fault.
                        reach = self.port + arith.width  # wide enough: no wrap-around
                        with m.If(seq.first & (reach > p.domains)):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.PORT_RANGE)]
                        with m.Else():
                            back = arith.width - 1
                            m.d.comb += [
                                count_cycle.eq(1),
                                seq.run.eq(1),
                                self.tag_update.eq(seq.search),
                                self.write_en.eq(seq.write),
                                self.shift_en.eq(seq.step_up | seq.step_back),
                                self.shift_to.eq(Mux(seq.step_up, self.port + 1,
                                                     self.port - back)),
                            ]
                            m.d.sync += [
                                counters["searches"].eq(counters["searches"] + seq.search),
                                counters["writes"].eq(counters["writes"] + seq.write),
                                counters["shifts"].eq(counters["shifts"]
                                                      + Mux(seq.step_up, 1, 0)
                                                      + Mux(seq.step_back, back, 0)),
                            ]
                            with m.If(seq.last):
                                m.d.comb += pc_next.eq(inc)
                    with m.Case(Opcode.SETROW):
                        m.d.comb += [count_cycle.eq(1), pc_next.eq(inc)]
                        m.d.sync += rp.eq(payload.setrow.row)
                    with m.Case(Opcode.TSHIFT):
                        m.d.comb += [count_cycle.eq(1), pc_next.eq(inc), self.tag_shift.eq(1)]
                    with m.Case(Opcode.TQUERY):
                        m.d.comb += [self.data_out.valid.eq(1), query_out.eq(1)]
                        with m.If(self.data_out.ready):  # otherwise a stall
                            m.d.comb += [count_cycle.eq(1), pc_next.eq(inc)]
                            m.d.sync += counters["io_words"].eq(counters["io_words"] + 1)
                    with m.Case(Opcode.LOAD, Opcode.READ):
                        is_load = is_op[Opcode.LOAD]
                        with m.If(rp >= p.rows):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.ROW_RANGE)]
                        with m.Else():
                            m.d.comb += [
                                self.data_in.ready.eq(is_load),
                                self.data_out.valid.eq(~is_load),
                            ]
                            moved = Mux(is_load, self.data_in.valid, self.data_out.ready)
                            with m.If(moved):  # otherwise a stall: nothing changes
                                m.d.comb += [
                                    count_cycle.eq(1),
                                    self.load_en.eq(is_load),
                                    pc_next.eq(inc),
                                ]
                                m.d.sync += counters["io_words"].eq(counters["io_words"] + 1)
                                advance_rp(payload.io.advance)
                    with m.Case(Opcode.LOOP):
                        with m.If(depth == LOOP_DEPTH):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.LOOP_STACK)]
                        with m.Else():
                            m.d.comb += [count_cycle.eq(1), pc_next.eq(inc)]
                            m.d.sync += [
                                loop_start[push].eq(inc),
                                loop_left[push].eq(payload.loop.count),
                                depth.eq(depth + 1),
                            ]
                    with m.Case(Opcode.ENDL):
                        with m.If(depth == 0):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.LOOP_STACK)]
                        with m.Else():
                            m.d.comb += count_cycle.eq(1)
                            with m.If(loop_left[top] > 1):
                                m.d.comb += pc_next.eq(loop_start[top])
                                m.d.sync += loop_left[top].eq(loop_left[top] - 1)
                            with m.Else():
                                m.d.comb += pc_next.eq(inc)
                                m.d.sync += depth.eq(depth - 1)

            with m.If(count_cycle):
                m.d.sync += counters["cycles"].eq(counters["cycles"] + 1)
            with m.If(fault):
                m.d.sync += [running.eq(0), error.eq(1), error_code.eq(fault_code)]

        with m.Else():
            m.d.comb += self.prog.ready.eq(1)
            with m.If(self.prog.valid & (self.prog.payload.addr < p.program_depth)):
                m.d.comb += [
                    wr.en.eq(1),
                    wr.addr.eq(self.prog.payload.addr),
                    wr.data.eq(self.prog.payload.word),
                ]
                m.d.sync += length.eq(self.prog.payload.addr + 1)

            with m.If(self.start):
                # The port returns to domain 0 in this cycle (the array writes its cache back
                # and loads domain 0), so the first instruction can run in the next one.
                m.d.comb += [self.tag_clear.eq(1), self.shift_en.eq(1), self.shift_to.eq(0)]
                m.d.sync += [
                    running.eq(1),
                    done.eq(0),
                    error.eq(0),
                    error_code.eq(ErrorCode.NONE),
                    pc.eq(0),
                    rp.eq(0),
                    depth.eq(0),
                    shifting.eq(0),
                ]
                m.d.sync += [sig.eq(0) for sig in counters.values()]
        return m
