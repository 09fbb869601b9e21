"""The board PLLs: our divider search against Project Trellis' ecppll and IceStorm's icepll
(the YoWASP builds from PyPI), and the reset that waits for lock, under Amaranth's simulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, ResetSignal, Signal
from amaranth.sim import Simulator

from rtmap.errors import RtmapError
from rtmap.hw.boards.pll import (
    RESET_CYCLES,
    RESET_STAGES,
    ecp5_dividers,
    hold_reset_until_locked,
    ice40_dividers,
    ice40_filter_range,
)

TOOLS = Path(sys.executable).parent


def run_tool(name: str, in_mhz: float, out_mhz: float, cwd: Path) -> str:
    done = subprocess.run([str(TOOLS / name), "-i", f"{in_mhz:g}", "-o", f"{out_mhz:g}"],
                          capture_output=True, text=True, cwd=cwd, check=True)
    return done.stdout


def field(text: str, label: str) -> int:
    return int(re.search(rf"{label}:\s*(\d+)", text).group(1))


def wanted(rng, low: float, high: float, count: int) -> list[float]:
    """Round and awkward frequencies: whole MHz, and ones with three decimals."""
    whole = rng.integers(int(low), int(high), count // 2)
    awkward = np.round(rng.uniform(low, high, count - count // 2), 3)
    return [float(f) for f in (*whole, *awkward)]


@pytest.mark.parametrize("in_mhz", [25.0, 12.0])
def test_ecp5_dividers_match_ecppll(in_mhz, tmp_path):
    rng = np.random.default_rng(int(in_mhz))
    for out_mhz in wanted(rng, 10, 400, 12):
        text = run_tool("yowasp-ecppll", in_mhz, out_mhz, tmp_path)
        ours = ecp5_dividers(in_mhz, out_mhz)
        reference, feedback = field(text, "Refclk divisor"), field(text, "Feedback divisor")
        output = field(text, "clkout0 divisor")
        where = f"{in_mhz} -> {out_mhz}"
        # The same frequency; among the dividers that give it, ecppll's float arithmetic
        # breaks ties by rounding noise, ours by the VCO nearest 600 MHz.
        assert ours.out_mhz == pytest.approx(in_mhz * feedback / reference, rel=1e-9), where
        assert ours.out_mhz == pytest.approx(in_mhz * ours.feedback / ours.reference)
        assert abs(ours.vco_mhz - 600) <= abs(ours.out_mhz * output - 600) + 1e-9, where
        assert 400 <= ours.vco_mhz <= 800


@pytest.mark.parametrize("in_mhz", [12.0, 25.0])
def test_ice40_dividers_match_icepll(in_mhz, tmp_path):
    rng = np.random.default_rng(int(in_mhz) + 1)
    for out_mhz in wanted(rng, 16, 275, 12):
        text = run_tool("yowasp-icepll", in_mhz, out_mhz, tmp_path)
        ours = ice40_dividers(in_mhz, out_mhz)
        theirs = (field(text, "DIVR") + 1, field(text, "DIVF") + 1, 1 << field(text, "DIVQ"))
        assert (ours.reference, ours.feedback, ours.output) == theirs, f"{in_mhz} -> {out_mhz}"
        assert ice40_filter_range(in_mhz / ours.reference) == field(text, "FILTER_RANGE")


def test_pll_outputs_out_of_range_are_refused():
    with pytest.raises(RtmapError, match="an ECP5 PLL output must be 10 to 400 MHz, not 450"):
        ecp5_dividers(25, 450)
    with pytest.raises(RtmapError, match="an iCE40 PLL output must be 16 to 275 MHz, not 12"):
        ice40_dividers(12, 12)
    with pytest.raises(RtmapError, match="no iCE40 PLL setting makes 100 MHz from 5 MHz"):
        ice40_dividers(5, 100)  # below the phase detector's 10 MHz at every divider


def test_reset_is_held_until_lock_and_then_for_reset_cycles():
    m = Module()
    m.domains.sync = ClockDomain("sync")
    locked = Signal()
    hold_reset_until_locked(m, locked)
    in_reset = Signal()
    m.d.comb += in_reset.eq(ResetSignal("sync"))

    async def bench(ctx):
        for _ in range(50):  # not locked yet
            await ctx.tick()
            assert ctx.get(in_reset)
        ctx.set(locked, 1)
        for cycle in range(RESET_CYCLES + RESET_STAGES):
            await ctx.tick()
            assert ctx.get(in_reset) == (cycle < RESET_CYCLES - 1 + RESET_STAGES), cycle
        for _ in range(20):
            await ctx.tick()
            assert not ctx.get(in_reset)
        ctx.set(locked, 0)  # a lost lock resets the processor again, RESET_STAGES later
        for _ in range(RESET_STAGES):
            await ctx.tick()
            assert not ctx.get(in_reset)
        await ctx.tick()
        assert ctx.get(in_reset)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
