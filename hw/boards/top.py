"""The top of a board build: PLL, the processor behind its UART (hw/host_link.py), LEDs."""

from __future__ import annotations

import math

from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io

from ...errors import RtmapError
from ...params import MachineParams
from ..fanout import delayed
from ..host_link import UartProcessor
from . import Board
from .pll import Ecp5Pll, Ice40Pll, ecp5_dividers, ice40_dividers

BAUD_TOLERANCE = 0.02  # the receiver samples mid-bit: 2% off over a 10-bit frame is safe
HEARTBEAT_HZ = 1.0
# Registers between what an LED shows and its pin: the pins sit at one edge of the chip, and
# a register wired straight to one is pulled toward it by the placer, away from the logic it
# feeds (``busy`` gates the program-load and start handshakes). A person needs no cycle
# accuracy, so the first stage stays by the processor and the second by the pin.
LED_STAGES = 2


class BoardClock:
    """The PLL setting that makes ``target_mhz`` from the board's clock, and the UART divisor
    at the frequency it really gives."""

    def __init__(self, board: Board, target_mhz: float, baud: int | None = None):
        settings = board.constraints
        self.in_mhz = float(settings["clock"]["input_mhz"])
        solve = ecp5_dividers if board.family == "ecp5" else ice40_dividers
        self.dividers = solve(self.in_mhz, target_mhz)
        self.mhz = self.dividers.out_mhz
        self.baud = int(baud or settings["uart"]["baud"])
        self.divisor = round(self.mhz * 1e6 / self.baud)
        actual = self.mhz * 1e6 / self.divisor
        if self.divisor < 4 or abs(actual - self.baud) / self.baud > BAUD_TOLERANCE:
            raise RtmapError(f"{self.baud} baud is not within {BAUD_TOLERANCE:.0%} of a whole "
                             f"divisor of {self.mhz:g} MHz; pick another baud or target")


class BoardTop(Elaboratable):
    """What ``make fpga`` builds for ``board``: ``params``'s processor behind the UART of the
    board's constraints file, at ``clock`` (a :class:`BoardClock`).

    LEDs show the roles of the constraints file: a heartbeat (the PLL clock runs) and the
    processor's busy, done and error."""

    def __init__(self, board: Board, params: MachineParams, clock: BoardClock):
        self.board, self.params, self.clock = board, params, clock
        self.link = UartProcessor(params, clock.divisor, storage=board.storage)
        self.led_roles = board.constraints["leds"]["roles"]  # checked when the file is read

    def elaborate(self, platform):
        m = Module()
        settings = self.board.constraints
        clock = settings["clock"]["resource"]
        m.domains.sync = ClockDomain("sync")  # clocked and reset by the PLL
        pad = platform.request(clock, 0, dir="-")
        if self.board.family == "ecp5":
            m.submodules.clock_in = clock_in = io.Buffer("i", pad)
            m.submodules.pll = Ecp5Pll(clock_in.i, self.clock.dividers, self.clock.in_mhz)
        else:  # the iCE40 PLL takes its input straight from the pad
            m.submodules.pll = Ice40Pll(pad, self.clock.dividers, self.clock.in_mhz)
        # No constraint on the PLL's output: nextpnr derives it from the board clock's and the
        # dividers (and the net's name after synthesis is not the one given here).

        m.submodules.link = link = self.link
        uart = platform.request(settings["uart"]["resource"], 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [link.rx.eq(rx.i), tx.o.eq(link.tx)]

        processor = link.processor
        # The heartbeat is the top bit of a free-running counter: a plain increment, never
        # the design's critical path (a reloading down-counter was, on iCE40).
        beat = Signal(max(1, round(math.log2(self.clock.mhz * 1e6 / HEARTBEAT_HZ))))
        m.d.sync += beat.eq(beat + 1)
        heartbeat = beat[-1]
        shown = {"heartbeat": heartbeat, "busy": processor.busy, "done": processor.done,
                 "error": processor.error}
        for number, role in enumerate(self.led_roles):
            led = io.Buffer("o", platform.request("led", number, dir="-"))
            m.submodules[f"led_{number}"] = led
            m.d.comb += led.o.eq(delayed(m, shown[role], LED_STAGES, f"led{number}_{role}"))
        return m
