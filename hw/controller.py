"""The microcode sequencer: it issues each instruction's operation to the array and tags.

Three stages (docs/HW.md "Timing"): :class:`rtmap.hw.fetch.Fetch` holds the decoded instruction
in a register, the controller *issues* it (one instruction per cycle; a shift takes count x
latency cycles, a tag shift a cycle per stage of the shifter, an add/sub those of its micro
steps), and the array and tags *execute* the issued operation a few cycles later (its
registers, then the array's and tags' copies of them: ``RESULT_AFTER_ISSUE`` -
``RESULT_LATENCY`` edges), in issue order. The controller never
waits on the array: it keeps its own copy of the port, and READ and TQUERY results come back
through a short pipeline into an output queue, which is what ``data_out`` shows.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..isa import COUNTERS, Combine, ErrorCode, Opcode, Query, instruction_layout, tshift_cycles
from ..params import COUNTER_BITS, MachineParams
from .arith import ArithSequencer
from .cam_array import index_bits, rejected
from .fanout import ISSUE_LATENCY, delayed
from .fetch import FILL_CYCLES, Fetch, prog_layout
from .tags import RESULT_LATENCY

__all__ = ["COUNTER_NAMES", "DRAIN_CYCLES", "FILL_CYCLES", "OUTPUT_QUEUE", "OUTPUT_STAGES",
           "RUN_OVERHEAD", "Controller", "host_members", "prog_layout"]

COUNTER_NAMES = COUNTERS  # the performance counters, in the order docs/ISA.md lists them

# The outputs that drive the array and tags: registered, ``OUTPUT_STAGES`` cycles after their
# issue.
ARRAY_SIDE = ("key", "mask", "match_void", "tag_update", "tag_combine", "tag_clear",
              "tag_shift", "tag_shift_down", "tag_shift_count", "write_en", "row", "load_en",
              "load_data", "load_mask", "shift_en", "shift_to")
# Those that make the array or tags act: the rest are operands, read only beside one of these.
ARRAY_SIDE_ENABLES = ("tag_update", "tag_clear", "tag_shift", "write_en", "load_en", "shift_en")
# Registers from what a cycle issues to the array-side outputs: the issue register, by the
# logic that decides it, then a transport register, which the placer can put between it and
# the array's region copies. (With one, at 256 rows, the issue registers sat halfway to the
# array and pulled the fetch's decoded instruction after them.)
OUTPUT_STAGES = 2
# An issued READ or TQUERY's word reaches the output queue this many cycles later: into the
# array-side outputs, the copies of the array and tags, then the result pipeline.
RESULT_AFTER_ISSUE = OUTPUT_STAGES + ISSUE_LATENCY + RESULT_LATENCY
# Words issued but not yet taken by the host, at most: the queue's depth. Deep enough that an
# always-ready host never makes a READ wait (a word is owed from its issue until the cycle
# after it is queued), and a power of two.
OUTPUT_QUEUE = 1 << (RESULT_AFTER_ISSUE + 1).bit_length()
# Cycles from the edge that ends a run (HALT or a fault) to done/error on the ports: by then
# every word the run produced is in the output queue.
DRAIN_CYCLES = RESULT_AFTER_ISSUE - 1
assert DRAIN_CYCLES > 0, "busy clears as draining ends: a run must drain"
# Clock cycles of a run beyond its counted ones (and its stalls): the fetch stages fill after
# start, and done shows once the last words are queued.
RUN_OVERHEAD = FILL_CYCLES + DRAIN_CYCLES


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
    shift takes count x latency cycles, a tag shift ``tshift_cycles(R)``, an add/sub those of
    its micro steps).

    Parameters
    ----------
    params : MachineParams
    program : list of int, optional
        Initial program memory contents; the program length register starts at its length
        (0 without a program: a run then stops at once with RAN_OFF_END).

    Members (host side; the same as :class:`rtmap.hw.top.RtmapTop`'s ports)
    ------------------------------------------------------------------------
    start : In(1)
        While not busy, begins a run at the next clock edge; ignored while busy.
    busy : Out(1)
        A run is in progress. The first instruction issues ``FILL_CYCLES`` + 1 cycles after
        the ``start`` cycle, once the fetch stages have filled.
    done, error : Out(1)
        The run ended with HALT / with a fault. Rise ``DRAIN_CYCLES`` after the clock edge that
        ends the HALT's (or faulting instruction's) cycle, when every word of the run is in
        the output queue, and busy falls with them; stay until the next ``start``.
    error_code : Out(ErrorCode)
        Why the run faulted (NONE unless ``error``).
    prog : In(stream.Signature(prog_layout(params)))
        Program memory writes; ready while not busy (and not starting). The program length
        becomes ``addr + 1``. Writes with ``addr >= program_depth`` are accepted and dropped.
    data_in : In(stream.Signature(T))
        Words for LOAD; ready only in a cycle in which a LOAD issues.
    data_out : Out(stream.Signature(T))
        Words from READ and TQUERY, from a queue of ``OUTPUT_QUEUE`` words: a READ or TQUERY
        waits (a stall) while the words owed to the host would not fit.
    cycles, searches, writes, shifts, io_words : Out(32)
        The counters of docs/ISA.md.
    pc : Out(pc_bits)
        The pc (for debugging; it keeps the faulting instruction's address after an error).

    Members (array side; :class:`RtmapTop` wires them)
    --------------------------------------------------
    These outputs are registers: what was issued ``OUTPUT_STAGES`` cycles earlier. The array
    and tags register them again, twice per region and then per row group, and carry them out
    in the cycle after that (``ISSUE_LATENCY`` edges later).

    key, mask : Out(T + 2)
        The current SEARCH's or WRITE's slots as a key and a column mask (for WRITE, a later
        slot naming the same column wins).
    match_void : Out(1)
        Two enabled SEARCH slots name one column with different values: no row matches.
    tag_update, tag_clear : Out(1); tag_combine : Out(Combine)
    tag_shift, tag_shift_down : Out(1); tag_shift_count : Out(imm_bits)
        Drive :class:`TagLogic`'s shift (TSHIFT).
    tag_count, tag_first, tag_any : In
        What TQUERY pushes to ``data_out`` (``tag_first`` is only read when ``tag_any``), as
        :class:`TagLogic` delivers them, ``RESULT_LATENCY`` cycles after the execute cycle.
    write_en : Out(1)
        A WRITE executes: write ``key`` under ``mask`` into the tagged rows.
    row : Out(index_bits(R)); load_en : Out(1); load_data, load_mask : Out(T)
        LOAD at row ``rp``.
    read_data : In(T)
        READ's row, as :class:`CamArray` delivers it, ``RESULT_LATENCY`` cycles after the
        execute cycle.
    shift_en : Out(1); shift_to : Out(index_bits(D))
        Move the array's port (once per SHIFT, in its first cycle; to 0 at ``start``). The
        controller keeps its own copy of the port, a cycle ahead of the array's.
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
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.fetch = fetch = Fetch(p, self.program)
        # What this cycle issues; the array-side outputs are these, registered OUTPUT_STAGES
        # times (so that the wires that cross the chip to the array's row groups start at a
        # register, and the issue logic's own registers stay by it). ``rst`` cancels what it
        # issues: only the first stage's enables reset (the operands need not, and the fewer
        # registers the reset reaches, the shorter its net: on a board its farthest loads were
        # 11.8 ns from it).
        issue = SimpleNamespace(**{name: Signal.like(getattr(self, name), name=f"issue_{name}")
                                   for name in ARRAY_SIDE})
        for name in ARRAY_SIDE:
            issued = Signal.like(getattr(issue, name), name=f"issued_{name}",
                                 reset_less=name not in ARRAY_SIDE_ENABLES)
            m.d.sync += issued.eq(getattr(issue, name))
            m.d.comb += getattr(self, name).eq(
                delayed(m, Value.cast(issued), OUTPUT_STAGES - 1, f"sent_{name}"))

        # -- state ----------------------------------------------------------------------------
        running = Signal()  # issuing
        draining = Signal(range(DRAIN_CYCLES + 1))  # cycles until done/error show
        ended_done, ended_error = Signal(), Signal()
        ended_code = Signal(ErrorCode)
        done, error = Signal(), Signal()
        error_code = Signal(ErrorCode)
        rp = Signal(p.imm_bits)  # SETROW takes any immediate; LOAD/READ check it against R
        port = Signal(index_bits(p.domains))  # the array's port once the issued ops are done
        # D - port (the domains from the port up), kept beside it, so that the range checks
        # (which decide a fault, and so every enable issued) compare registers, not sums.
        above = Signal(range(p.domains + 1), init=p.domains)

        def move_port(target):
            m.d.sync += [port.eq(target), above.eq(p.domains - target)]
        shifting = Signal()  # in the second or later cycle of a SHIFT or TSHIFT
        longest_shift = max(1, (p.domains - 1) * p.shift_latency, tshift_cycles(p.rows))
        shift_left = Signal(range(longest_shift + 1))  # cycles still to go, this one included
        counters = {name: Signal(COUNTER_BITS, name=f"count_{name}") for name in COUNTER_NAMES}
        # What this cycle's issue adds to each counter, and the same registered: a counter
        # adds it at the next edge, so the 32-bit adders wait on registers only, not on the
        # checks that decide whether an instruction faults.
        longest_step = max(1 << p.imm_bits, p.domains)
        added = {name: Signal(range(longest_step), name=f"add_{name}") for name in COUNTER_NAMES}
        pending = {name: Signal.like(added[name], name=f"pending_{name}")
                   for name in COUNTER_NAMES}
        m.d.sync += [pending[name].eq(added[name]) for name in COUNTER_NAMES]
        m.d.sync += [counters[name].eq(counters[name] + pending[name]) for name in COUNTER_NAMES]
        # ``running | (draining != 0)``, kept as a register of its own: it gates program
        # memory's write port, and a sum of state there made the program-load handshake a
        # critical path across the chip at 256 rows. Set at start, cleared as draining ends
        # (DRAIN_CYCLES > 0, so a run always drains).
        busy = Signal()
        m.d.comb += [
            self.busy.eq(busy),
            self.done.eq(done),
            self.error.eq(error),
            self.error_code.eq(error_code),
            self.pc.eq(fetch.pc),
            issue.row.eq(rp),
            issue.load_data.eq(self.data_in.payload),
            issue.load_mask.eq(fetch.load_mask),
            fetch.idle.eq(~running),
            fetch.start.eq(self.start & ~busy),
        ]
        m.d.comb += [getattr(self, name).eq(sig) for name, sig in counters.items()]
        m.d.comb += [fetch.prog.payload.eq(self.prog.payload),
                     fetch.prog.valid.eq(self.prog.valid & ~busy),
                     self.prog.ready.eq(fetch.prog.ready & ~busy)]
        with m.If(draining != 0):
            m.d.sync += draining.eq(draining - 1)
            with m.If(draining == 1):
                m.d.sync += [busy.eq(0), done.eq(ended_done), error.eq(ended_error),
                             error_code.eq(ended_code)]

        # -- the instruction --------------------------------------------------------------------
        insn = fetch.word
        opcode = insn.opcode.as_value()
        payload = insn.payload
        arith = payload.arith
        m.submodules.arith = seq = ArithSequencer(p)
        m.d.comb += [seq.mode.eq(arith.mode), seq.dest.eq(arith.dest), seq.src.eq(arith.src),
                     seq.bits.eq(arith.bits), seq.width.eq(arith.width)]
        with m.If(fetch.is_arith):
            m.d.comb += [issue.key.eq(seq.key), issue.mask.eq(seq.mask)]
        with m.Else():
            m.d.comb += [issue.key.eq(fetch.key), issue.mask.eq(fetch.mask),
                         issue.match_void.eq(fetch.match_void)]
        m.d.comb += [
            issue.tag_combine.eq(Mux(fetch.is_arith, Combine.SET, payload.search.combine)),
            issue.tag_shift_down.eq(payload.shift.down),
            issue.tag_shift_count.eq(payload.shift.count),
        ]

        # -- words for the host: issued READs and TQUERYs, their results, the queue ---------------
        m.submodules.out_queue = queue = fifo.SyncFIFO(width=p.tracks, depth=OUTPUT_QUEUE)
        owed = Signal(range(OUTPUT_QUEUE + 1))  # issued, not yet taken by the host
        room = Signal(init=1)  # owed < OUTPUT_QUEUE (a register: it decides a stall)
        emit = Signal()  # a READ or TQUERY issues
        emit_query = Signal()
        taken = self.data_out.valid & self.data_out.ready
        # Both outcomes worked out from registers and the host's ready, then chosen by emit,
        # which is late (it waits on the instruction's checks).
        left = Signal.like(owed)  # owed, less the word the host takes in this cycle
        m.d.comb += left.eq(owed - taken)
        m.d.sync += [owed.eq(Mux(emit, left + 1, left)),
                     room.eq(Mux(emit, left != OUTPUT_QUEUE - 1, left != OUTPUT_QUEUE))]
        # The issued word's kind, delayed until its result arrives.
        what = payload.query.what
        in_flight = [Signal(2 + len(what), name=f"in_flight{i}")
                     for i in range(RESULT_AFTER_ISSUE)]
        m.d.sync += in_flight[0].eq(Cat(emit, emit_query, what))
        m.d.sync += [later.eq(earlier) for earlier, later in zip(in_flight, in_flight[1:],
                                                                 strict=False)]
        arrived = in_flight[-1]
        query_value = Signal(max(p.rows.bit_length(), index_bits(p.rows)))
        with m.Switch(arrived[2:]):
            with m.Case(Query.COUNT):
                m.d.comb += query_value.eq(self.tag_count)
            with m.Case(Query.FIRST):  # R when no row is tagged
                m.d.comb += query_value.eq(Mux(self.tag_any, self.tag_first, p.rows))
            with m.Case(Query.ANY):
                m.d.comb += query_value.eq(self.tag_any)
        m.d.comb += [
            queue.w_en.eq(arrived[0]),
            queue.w_data.eq(Mux(arrived[1], query_value, self.read_data)),
            self.data_out.valid.eq(queue.r_rdy),
            self.data_out.payload.eq(queue.r_data),
            queue.r_en.eq(self.data_out.ready),
        ]

        # -- issue ------------------------------------------------------------------------------
        count_cycle = Signal()  # an instruction issues in this cycle (not a stall, no fault)
        advance = Signal()  # ... and it is its last cycle
        fault = Signal()
        fault_code = Signal(ErrorCode)
        m.d.comb += fetch.advance.eq(advance)

        # The instruction's last cycle, if it does not fault: from registers and a stream's
        # valid only, as it holds or moves the whole fetch pipeline. (A fault ends the run; the
        # fetch stages are emptied at the next start.)
        shift_last = Signal()  # a SHIFT's or TSHIFT's cycles: this is the last of several
        with m.If(running & fetch.valid):
            m.d.comb += advance.eq(
                fetch.simple
                | (fetch.is_shift & Mux(shifting, shift_last, fetch.shift_single))
                | (fetch.is_arith & seq.last)
                | (fetch.is_emit & room)
                | (fetch.is_load & self.data_in.valid))

        shift = payload.shift
        count = fetch.shift_count  # the count, or D if larger
        off_range = Mux(shift.down, count > port, count >= above)
        rp_bad = Signal()  # rp >= R (a register, kept with rp)

        # A SHIFT or TSHIFT of several cycles issues in its first; the others count down.
        def first_shift_cycle():
            with m.If(~fetch.shift_single):
                m.d.sync += [shifting.eq(1), shift_left.eq(fetch.shift_cycles - 1),
                             shift_last.eq(fetch.shift_cycles == 2)]

        def later_shift_cycle():
            m.d.comb += count_cycle.eq(1)
            m.d.sync += [shift_left.eq(shift_left - 1), shift_last.eq(shift_left == 2)]
            with m.If(shift_left == 1):
                m.d.sync += shifting.eq(0)

        def end_run(halted: bool, code=ErrorCode.NONE):
            m.d.sync += [running.eq(0), draining.eq(DRAIN_CYCLES), ended_done.eq(halted),
                         ended_error.eq(not halted), ended_code.eq(code)]

        with m.If(running & fetch.valid):  # (not while the fetch stages fill after start)
            with m.If(fetch.fault != ErrorCode.NONE):
                m.d.comb += [fault.eq(1), fault_code.eq(fetch.fault)]
            with m.Else():
                with m.Switch(opcode):
                    with m.Case(Opcode.HALT):
                        m.d.comb += count_cycle.eq(1)
                    with m.Case(Opcode.SEARCH):
                        m.d.comb += [count_cycle.eq(1), issue.tag_update.eq(1)]
                        m.d.comb += added["searches"].eq(1)
                    with m.Case(Opcode.WRITE):
                        m.d.comb += [count_cycle.eq(1), issue.write_en.eq(1)]
                        m.d.comb += added["writes"].eq(1)
                    with m.Case(Opcode.SHIFT):
                        with m.If(shifting):
                            later_shift_cycle()
                        with m.Elif(off_range):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.PORT_RANGE)]
                        with m.Else():
                            target = Mux(shift.down, port - count, port + count)
                            m.d.comb += [count_cycle.eq(1), issue.shift_en.eq(1),
                                         issue.shift_to.eq(target)]
                            move_port(target)
                            m.d.comb += added["shifts"].eq(shift.count)
                            first_shift_cycle()
                    with m.Case(Opcode.ARITH):
                        # The port range is checked before the first micro step; after it
                        # nothing can fault.
                        with m.If(seq.first & (arith.width > above)):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.PORT_RANGE)]
                        with m.Else():
                            back = arith.width - 1
                            target = Mux(seq.step_up, port + 1, port - back)
                            m.d.comb += [
                                count_cycle.eq(1),
                                seq.run.eq(1),
                                issue.tag_update.eq(seq.search),
                                issue.write_en.eq(seq.write),
                                issue.shift_en.eq(seq.step_up | seq.step_back),
                                issue.shift_to.eq(target),
                            ]
                            with m.If(seq.step_up | seq.step_back):
                                move_port(target)
                            m.d.comb += [
                                added["searches"].eq(seq.search),
                                added["writes"].eq(seq.write),
                                added["shifts"].eq(Mux(seq.step_up, 1, 0)
                                                   + Mux(seq.step_back, back, 0)),
                            ]
                    with m.Case(Opcode.SETROW):
                        m.d.comb += count_cycle.eq(1)
                        m.d.sync += [rp.eq(payload.setrow.row),
                                     rp_bad.eq(payload.setrow.row >= p.rows)]
                    with m.Case(Opcode.TSHIFT):
                        with m.If(shifting):
                            later_shift_cycle()
                        with m.Else():
                            m.d.comb += [count_cycle.eq(1), issue.tag_shift.eq(1)]
                            first_shift_cycle()
                    with m.Case(Opcode.LOOP, Opcode.ENDL):  # the fetch stage runs the loops
                        m.d.comb += count_cycle.eq(1)
                    with m.Case(Opcode.TQUERY):
                        with m.If(room):  # otherwise a stall
                            m.d.comb += [count_cycle.eq(1), emit.eq(1), emit_query.eq(1)]
                            m.d.comb += added["io_words"].eq(1)
                    with m.Case(Opcode.LOAD, Opcode.READ):
                        is_load = fetch.is_load
                        with m.If(rp_bad):
                            m.d.comb += [fault.eq(1), fault_code.eq(ErrorCode.ROW_RANGE)]
                        with m.Else():
                            m.d.comb += self.data_in.ready.eq(is_load)
                            moved = Mux(is_load, self.data_in.valid, room)
                            with m.If(moved):  # otherwise a stall: nothing changes
                                m.d.comb += [count_cycle.eq(1), issue.load_en.eq(is_load),
                                             emit.eq(~is_load)]
                                m.d.comb += added["io_words"].eq(1)
                                with m.If(payload.io.advance):
                                    m.d.sync += [rp.eq(rp + 1), rp_bad.eq(rp + 1 >= p.rows)]

            with m.If(count_cycle):
                m.d.comb += added["cycles"].eq(1)
            with m.If(count_cycle & (opcode == Opcode.HALT.value)):
                end_run(True)
            with m.If(fault):
                end_run(False, fault_code)

        with m.Elif(~busy & self.start):
            # Issued now, carried out first (while the fetch stages fill): the port
            # returns to domain 0 (the array writes its cache back and loads domain 0) and the
            # tags clear.
            m.d.comb += [issue.tag_clear.eq(1), issue.shift_en.eq(1), issue.shift_to.eq(0)]
            m.d.sync += [
                running.eq(1),
                busy.eq(1),
                done.eq(0),
                error.eq(0),
                error_code.eq(ErrorCode.NONE),
                rp.eq(0),
                rp_bad.eq(0),
                shifting.eq(0),
            ]
            move_port(0)
            m.d.sync += [sig.eq(0) for sig in (*counters.values(), *pending.values())]
        return m
