"""The host link: the framed byte protocol of rtmap/hostlink.py (docs/HOSTLINK.md) bridged to
the processor's host interface, and the processor behind a UART.

:class:`HostLink` takes request bytes from ``rx``, answers each request with one reply on
``tx``, and drives the processor through ``processor`` (the host side of docs/ISA.md
"Hardware ports"). Input words wait in a FIFO that a DATA request fills all or nothing: its
words are written behind the committed end and committed only when the CRC checks. Output
words wait in a FIFO that READ drains; the processor stalls when it is full. Requests that
arrive while a reply is being sent are dropped: the host waits for each reply.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hostlink import (
    COUNTERS_BYTES,
    INFO_BYTES,
    REPLY_SYNC,
    REQUEST_SYNC,
    STATUS_BYTES,
    Command,
    Status,
    crc8,
    word_bytes,
)
from ..isa import COUNTERS, instruction_layout
from ..params import MachineParams
from .cam_array import rejected
from .controller import host_members
from .top import RtmapTop
from .uart import UartRx, UartTx

DEFAULT_FIFO_DEPTH = 256  # words in each of the link's FIFOs (input and output)
HANDOFF_WORDS = 2  # words in each FIFO between the link and the processor (UartProcessor)


def crc8_step(m: Module, crc, byte) -> Signal:
    """The CRC-8 of ``crc`` followed by ``byte``, combinational. The CRC of one byte from 0
    is linear in the byte's bits, so each output bit is the XOR of the bits of ``crc ^ byte``
    whose one-bit CRC has it set."""
    value, out = Signal(8), Signal(8)
    m.d.comb += value.eq(crc ^ byte)
    for bit in range(8):
        taps = [value[i] for i in range(8) if crc8([1 << i]) >> bit & 1]
        m.d.comb += out[bit].eq(Cat(*taps).xor())
    return out


def _widened(value, bits: int):
    """``value`` zero-extended to ``bits`` (a field of a reply)."""
    return Cat(value, Const(0, bits - len(value)))


def _power_of_two(value, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 2 \
            or value & (value - 1):
        raise ValueError(f"{name} must be a power of two of at least 2, not {value!r}")
    return value


class HostLink(wiring.Component):
    def __init__(self, params: MachineParams, in_depth: int = DEFAULT_FIFO_DEPTH,
                 out_depth: int = DEFAULT_FIFO_DEPTH):
        self.params = params
        try:
            self.in_depth = _power_of_two(in_depth, "in_depth")
            self.out_depth = _power_of_two(out_depth, "out_depth")
        except ValueError as exc:
            raise rejected(self, exc) from None
        self.word_bytes = word_bytes(params.tracks)
        self.program_bytes = word_bytes(instruction_layout(params).size)
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "processor": Out(wiring.Signature(host_members(params)).flip()),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        proc = self.processor
        tracks = p.tracks
        wide = max(self.word_bytes, self.program_bytes, 2) * 8

        # Input FIFO: a ring of words with a committed and a staged end. Its read port is
        # synchronous (block RAM, also on iCE40) and reads ahead: it is addressed by the
        # read pointer the next cycle will have, so its data is always mem[read_at]. It is
        # not transparent, which is safe: a word is written while its frame is staged and
        # read only once the frame's CRC byte, at least a byte time later, commits it.
        m.submodules.in_mem = in_mem = Memory(shape=tracks, depth=self.in_depth, init=[])
        in_write = in_mem.write_port()
        in_read = in_mem.read_port()
        pointer = range(2 * self.in_depth)  # one wrap bit more than the address
        read_at, committed, staged = (Signal(pointer, name=n) for n in ("read_at", "committed",
                                                                          "staged"))
        in_used = Signal(range(self.in_depth + 1))
        popped = proc.data_in.valid & proc.data_in.ready
        m.d.comb += [
            in_used.eq((committed - read_at)[:len(in_used)]),
            in_read.addr.eq(read_at + popped),
            proc.data_in.payload.eq(in_read.data),
            proc.data_in.valid.eq(committed != read_at),
        ]
        with m.If(popped):
            m.d.sync += read_at.eq(read_at + 1)

        # Output FIFO.
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(width=tracks,
                                                                 depth=self.out_depth)
        m.d.comb += [
            out_fifo.w_data.eq(proc.data_out.payload),
            out_fifo.w_en.eq(proc.data_out.valid),
            proc.data_out.ready.eq(out_fifo.w_rdy),
        ]

        # Request parsing.
        command = Signal(8)
        length = Signal(16)
        crc = Signal(8)
        count = Signal(16)  # payload bytes taken so far
        # count == length, kept as a register (as payload_sent below): the compare in front
        # of rx.ready, the CRC and the word assembly was a board build's slowest path.
        payload_taken = Signal()
        word = Signal(wide)
        byte_in_word = Signal(range(wide // 8))
        refusal = Signal(Status)
        address = Signal(p.pc_bits + 1)
        read_max = Signal(16)
        status = Signal(Status)
        byte = self.rx.payload
        took = self.rx.valid & self.rx.ready
        # start is a register, like prog.valid: no path from the request logic into the
        # controller's (it reaches the processor a cycle after the request is checked).
        m.d.sync += [proc.start.eq(0), proc.prog.valid.eq(0)]
        with m.If(proc.prog.valid & ~proc.prog.ready):  # never while idle: hold it
            m.d.sync += proc.prog.valid.eq(1)

        unit = Signal(range(max(self.word_bytes, self.program_bytes) + 1))
        remainder = Signal(len(unit) + 1)  # of length / unit, while dividing: below unit
        next_bit = Signal(range(16))  # of length, while dividing
        in_free = Signal(range(self.in_depth + 1))
        m.d.comb += in_free.eq(self.in_depth - in_used)

        # Reply.
        reply_bytes = Signal(16)  # payload bytes of the reply
        sent = Signal(16)
        # (Set before each reply that sends it: no reset.)
        snapshot = Signal(max(INFO_BYTES, STATUS_BYTES, COUNTERS_BYTES) * 8, reset_less=True)
        # A READ's words are sent from out_word, a byte at a time: each is taken from the
        # output FIFO first, in a cycle of its own (the FIFO's read data comes from block RAM,
        # late in the cycle; sending its first byte straight from there, through the CRC's
        # byte, was a board build's slowest path at 100 MHz).
        out_word = Signal(tracks, reset_less=True)
        out_loaded = Signal()  # out_word holds the word being sent
        out_byte = Signal(range(self.word_bytes))
        # A reply's CRC takes each byte sent one cycle after it goes: the byte sent can come
        # from a wide snapshot (once from the output FIFO's block RAM too), and with the CRC
        # step behind that the link was the slowest path of a board build (77 MHz).
        # The reply's CRC byte goes out at least a cycle after its last payload byte.
        crc_byte = Signal(8)
        crc_due = Signal()
        # sent == reply_bytes, kept as a register: the 16-bit compare in front of tx.valid
        # and the output FIFO's read enable was a board build's slowest path (88 MHz).
        payload_sent = Signal()
        m.d.sync += crc_due.eq(0)
        # The replies sent from the snapshot: each one's payload bytes and what it copies.
        snapshot_replies = {
            Command.INFO: (INFO_BYTES, Cat(
                Const(p.rows, 16), Const(p.tracks, 16), Const(p.domains, 16),
                Const(p.shift_latency, 8), Const(p.program_depth, 32),
                Const(self.in_depth, 16), Const(self.out_depth, 16))),
            Command.STATUS: (STATUS_BYTES, Cat(
                proc.busy, proc.done, proc.error, Const(0, 5),
                _widened(proc.error_code.as_value(), 8), _widened(in_free, 16),
                _widened(out_fifo.r_level, 16))),
            Command.COUNTERS: (COUNTERS_BYTES, Cat(*(getattr(proc, name) for name in COUNTERS))),
        }
        # The snapshot is taken in the cycle after its request is carried out, by a register
        # of its own for each kind: its 200-odd flip-flops sit by the counters they copy,
        # across the chip, and their enables and resets (Yosys loads constant bits by
        # resetting them) from the request's decode were a board build's slowest path. The
        # payload goes out bytes later.
        take_snapshot = {cmd: Signal(name=f"take_snapshot_{cmd.name.lower()}")
                         for cmd in snapshot_replies}
        m.d.sync += [taking.eq(0) for taking in take_snapshot.values()]
        for cmd, (_, contents) in snapshot_replies.items():
            with m.If(take_snapshot[cmd]):
                m.d.sync += snapshot.eq(contents)
        with m.If(crc_due):
            m.d.sync += crc.eq(crc8_step(m, crc, crc_byte))

        def sent_byte(value):
            return [crc_byte.eq(value), crc_due.eq(1)]

        def sent_payload_byte():
            return [sent.eq(sent + 1), payload_sent.eq(sent + 1 == reply_bytes),
                    *sent_byte(self.tx.payload)]

        with m.FSM():
            with m.State("sync"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took & (byte == REQUEST_SYNC)):
                    m.d.sync += crc.eq(0)
                    m.next = "command"
            with m.State("command"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took):
                    m.d.sync += [command.eq(byte), crc.eq(crc8_step(m, crc, byte))]
                    m.next = "length_low"
            with m.State("length_low"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took):
                    m.d.sync += [length[:8].eq(byte), crc.eq(crc8_step(m, crc, byte))]
                    m.next = "length_high"
            with m.State("length_high"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took):
                    m.d.sync += [length[8:].eq(byte), crc.eq(crc8_step(m, crc, byte)),
                                 count.eq(0), byte_in_word.eq(0), address.eq(0),
                                 unit.eq(1), remainder.eq(0), next_bit.eq(len(length) - 1)]
                    with m.Switch(command):
                        with m.Case(Command.PROGRAM):
                            m.d.sync += unit.eq(self.program_bytes)
                        with m.Case(Command.DATA):
                            m.d.sync += unit.eq(self.word_bytes)
                        with m.Case(Command.READ):
                            m.d.sync += unit.eq(2)
                    m.next = "divide"
            with m.State("divide"):
                # length % unit, a bit a cycle from the top (long division by a small number):
                # one short compare a cycle instead of a deep divider in one. 16 cycles, well
                # inside the byte time before the payload's first byte.
                shifted = Cat(length.bit_select(next_bit, 1), remainder)
                m.d.sync += [remainder.eq(Mux(shifted >= unit, shifted - unit, shifted)),
                             next_bit.eq(next_bit - 1)]
                with m.If(next_bit == 0):
                    m.next = "check"
            with m.State("check"):  # is the request one we can carry out?
                m.d.sync += refusal.eq(Status.OK)
                with m.Switch(command):
                    for cmd in (Command.INFO, Command.START, Command.STATUS, Command.COUNTERS):
                        with m.Case(cmd):
                            with m.If(length != 0):
                                m.d.sync += refusal.eq(Status.BAD_LENGTH)
                            if cmd == Command.START:
                                with m.Elif(proc.busy):
                                    m.d.sync += refusal.eq(Status.BUSY)
                    with m.Case(Command.READ):
                        with m.If(length != 2):
                            m.d.sync += refusal.eq(Status.BAD_LENGTH)
                    with m.Case(Command.PROGRAM):
                        with m.If((length == 0) | (remainder != 0)
                                  | (length > p.program_depth * self.program_bytes)):
                            m.d.sync += refusal.eq(Status.BAD_LENGTH)
                        with m.Elif(proc.busy):
                            m.d.sync += refusal.eq(Status.BUSY)
                    with m.Case(Command.DATA):
                        with m.If((length == 0) | (remainder != 0)):
                            m.d.sync += refusal.eq(Status.BAD_LENGTH)
                        with m.Elif(length > in_free * self.word_bytes):
                            m.d.sync += refusal.eq(Status.OVERFLOW)
                    with m.Default():
                        m.d.sync += refusal.eq(Status.UNKNOWN_COMMAND)
                m.d.sync += [staged.eq(committed), payload_taken.eq(length == 0)]
                m.next = "payload"
            with m.State("payload"):
                with m.If(payload_taken):
                    m.next = "crc"
                with m.Else():
                    m.d.comb += self.rx.ready.eq(~proc.prog.valid)  # one word in flight
                    with m.If(took):
                        m.d.sync += [crc.eq(crc8_step(m, crc, byte)), count.eq(count + 1),
                                     payload_taken.eq(count + 1 == length)]
                        assembled = Signal(wide)
                        m.d.comb += assembled.eq(word | (byte << (byte_in_word * 8)))
                        with m.If(byte_in_word == unit - 1):
                            m.d.sync += [byte_in_word.eq(0), word.eq(0)]
                            with m.If(refusal == Status.OK):
                                with m.Switch(command):
                                    with m.Case(Command.PROGRAM):
                                        m.d.sync += [
                                            proc.prog.payload.addr.eq(address),
                                            proc.prog.payload.word.eq(assembled),
                                            proc.prog.valid.eq(1),
                                            address.eq(address + 1),
                                        ]
                                    with m.Case(Command.DATA):
                                        m.d.comb += [in_write.addr.eq(staged),
                                                     in_write.data.eq(assembled),
                                                     in_write.en.eq(1)]
                                        m.d.sync += staged.eq(staged + 1)
                                    with m.Case(Command.READ):
                                        m.d.sync += read_max.eq(assembled)
                        with m.Else():
                            m.d.sync += [byte_in_word.eq(byte_in_word + 1), word.eq(assembled)]
            with m.State("crc"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(took):
                    with m.If(byte != crc):
                        m.d.sync += status.eq(Status.BAD_CRC)
                    with m.Else():
                        m.d.sync += status.eq(refusal)
                    m.next = "execute"
            with m.State("execute"):
                ok = status == Status.OK
                m.d.sync += [reply_bytes.eq(0), sent.eq(0)]
                with m.If(ok & (command == Command.DATA)):
                    m.d.sync += committed.eq(staged)
                with m.If(ok & (command == Command.START)):
                    m.d.sync += proc.start.eq(1)
                for cmd, (size, _) in snapshot_replies.items():
                    with m.If(ok & (command == cmd)):
                        m.d.sync += [reply_bytes.eq(size), take_snapshot[cmd].eq(1)]
                with m.If(ok & (command == Command.READ)):
                    words = Signal(16)
                    m.d.comb += words.eq(read_max)
                    with m.If(out_fifo.r_level < read_max):
                        m.d.comb += words.eq(out_fifo.r_level)
                    m.d.sync += [reply_bytes.eq(words * self.word_bytes), out_byte.eq(0),
                                 out_loaded.eq(0)]
                m.next = "reply_sync"
            for state, value, following in (
                    ("reply_sync", REPLY_SYNC, "reply_status"),
                    ("reply_status", status, "reply_length_low"),
                    ("reply_length_low", reply_bytes[:8], "reply_length_high"),
                    ("reply_length_high", reply_bytes[8:], "reply_payload")):
                with m.State(state):
                    m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(value)]
                    with m.If(self.tx.ready):
                        if state == "reply_sync":
                            m.d.sync += crc.eq(0)
                        else:
                            m.d.sync += sent_byte(self.tx.payload)
                        if following == "reply_payload":
                            m.d.sync += payload_sent.eq(reply_bytes == 0)
                        m.next = following
            with m.State("reply_payload"):
                with m.If(payload_sent):
                    m.next = "reply_crc"
                with m.Elif(command == Command.READ):
                    with m.If(~out_loaded):  # the next word: from the FIFO into out_word
                        m.d.comb += out_fifo.r_en.eq(1)
                        with m.If(out_fifo.r_rdy):
                            m.d.sync += [out_word.eq(out_fifo.r_data), out_loaded.eq(1)]
                    with m.Else():
                        m.d.comb += [self.tx.valid.eq(1),
                                     self.tx.payload.eq((out_word >> (out_byte * 8))[:8])]
                        with m.If(self.tx.ready):
                            m.d.sync += sent_payload_byte()
                            with m.If(out_byte == self.word_bytes - 1):
                                m.d.sync += [out_byte.eq(0), out_loaded.eq(0)]
                            with m.Else():
                                m.d.sync += out_byte.eq(out_byte + 1)
                with m.Else():
                    m.d.comb += [self.tx.valid.eq(1),
                                 self.tx.payload.eq((snapshot >> (sent * 8))[:8])]
                    with m.If(self.tx.ready):
                        m.d.sync += sent_payload_byte()
            with m.State("reply_crc"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(crc)]
                with m.If(self.tx.ready):
                    m.next = "sync"
        return m


class UartProcessor(wiring.Component):
    """The processor behind a UART: what a board top instantiates. ``divisor``: clock cycles
    per bit; ``storage``: the array's RAM kind (:class:`RtmapTop`).

    The link and the processor exchange data words through buffered FIFOs of
    ``HANDOFF_WORDS``, and the link's bytes reach the UART through a one-byte FIFO: each
    handshake between them is then a register and a LUT, not the link's logic in series with
    the processor's stall and issue logic (a board build's slowest paths at 256 rows). The
    buffered FIFOs give the processor registers for the input word and its valid, which
    holds the whole fetch pipeline while a LOAD waits."""

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, params: MachineParams, divisor: int, in_depth: int = DEFAULT_FIFO_DEPTH,
                 out_depth: int = DEFAULT_FIFO_DEPTH, storage: str = "distributed"):
        self.params = params
        self.processor = RtmapTop(params, storage=storage)
        self.uart_rx = UartRx(divisor)
        self.uart_tx = UartTx(divisor)
        self.link = HostLink(params, in_depth, out_depth)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = self.uart_rx
        m.submodules.uart_tx = self.uart_tx
        m.submodules.link = link = self.link
        m.submodules.processor = processor = self.processor
        m.d.comb += [self.uart_rx.rx.eq(self.rx), self.tx.eq(self.uart_tx.tx)]
        wiring.connect(m, self.uart_rx.data, link.rx)
        m.submodules.tx_byte = tx_byte = fifo.SyncFIFO(width=8, depth=1)
        wiring.connect(m, link.tx, tx_byte.w_stream)
        wiring.connect(m, tx_byte.r_stream, self.uart_tx.data)

        tracks = self.params.tracks
        m.submodules.words_in = words_in = fifo.SyncFIFOBuffered(width=tracks,
                                                                 depth=HANDOFF_WORDS)
        m.submodules.words_out = words_out = fifo.SyncFIFOBuffered(width=tracks,
                                                                   depth=HANDOFF_WORDS)
        wiring.connect(m, link.processor.data_in, words_in.w_stream)
        wiring.connect(m, words_in.r_stream, processor.data_in)
        wiring.connect(m, processor.data_out, words_out.w_stream)
        wiring.connect(m, words_out.r_stream, link.processor.data_out)
        wiring.connect(m, link.processor.prog, processor.prog)
        # start crosses the chip from the link to the fetch stages: one more register, which
        # the placer can put by them. (The link looks at busy again only with its next
        # request, at least a byte time later.)
        m.d.sync += processor.start.eq(link.processor.start)
        for name, member in processor.signature.members.items():
            if member.is_port and name != "start":  # busy, done, error, ..., the counters
                if member.flow == In:
                    m.d.comb += getattr(processor, name).eq(getattr(link.processor, name))
                else:
                    m.d.comb += getattr(link.processor, name).eq(getattr(processor, name))
        return m
