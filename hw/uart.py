"""A UART, 8 data bits, no parity, one stop bit (8N1), least significant bit first: the byte
pipe of the FPGA host link.

``divisor`` is clock cycles per bit (e.g. 100 MHz / 115,200 baud = 868). The receiver samples
each bit in its middle, after a start bit that is still low half a bit in (a glitch shorter
than that is ignored); a stop bit that is low is a framing error and the byte is dropped.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cam_array import rejected

MIN_DIVISOR = 4  # the receiver needs a middle to sample: at least 4 cycles per bit


def _check_divisor(component, divisor) -> int:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise rejected(component, ValueError(
            f"divisor must be an integer of at least {MIN_DIVISOR} clock cycles per bit, not "
            f"{divisor!r}"))
    return divisor


class UartTx(wiring.Component):
    """Sends each byte the ``data`` stream gives; ``tx`` idles high."""

    data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(self, divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10)  # start bit, 8 data bits, stop bit, sent from bit 0
        bits_left = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += self.data.ready.eq(bits_left == 0)
        with m.If(bits_left == 0):
            with m.If(self.data.valid):
                m.d.sync += [
                    frame.eq(Cat(Const(0, 1), self.data.payload, Const(1, 1))),
                    bits_left.eq(10),
                    timer.eq(self.divisor - 1),
                    self.tx.eq(0),  # the start bit begins now
                ]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [bits_left.eq(bits_left - 1), timer.eq(self.divisor - 1),
                         frame.eq(frame >> 1)]
            # The next bit goes out now; after the stop bit the line idles high.
            m.d.sync += self.tx.eq(((frame >> 1)[0]) | (bits_left == 1))
        return m


class UartRx(wiring.Component):
    """Each byte received on ``rx`` appears on ``data`` for one cycle (``valid``); a byte not
    taken then (``ready`` low) is lost and ``overrun`` goes high until reset. ``framing_error``
    pulses for a byte whose stop bit was low."""

    rx: In(1, init=1)
    data: Out(stream.Signature(8))
    overrun: Out(1)
    framing_error: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(self, divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        # Two flip-flops take the asynchronous pin into the clock domain.
        meta = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [meta.eq(self.rx), line.eq(meta)]
        timer = Signal(range(self.divisor))
        shift = Signal(8)
        bit = Signal(range(9))
        m.d.sync += [self.data.valid.eq(0), self.framing_error.eq(0)]
        with m.If(self.data.valid & ~self.data.ready):
            m.d.sync += self.overrun.eq(1)
        with m.FSM():
            with m.State("idle"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "start"
            with m.State("start"):  # wait half a bit: the start bit's middle
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "idle"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "data"
            with m.State("data"):  # then a whole bit to each data bit's middle
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), bit.eq(bit + 1),
                                 timer.eq(self.divisor - 1)]
                    with m.If(bit == 7):
                        m.next = "stop"
            with m.State("stop"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(line):
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                    m.next = "idle"
        return m
