"""The UART under Amaranth's simulator, against a bit-level model of an 8N1 line: random bytes,
divisors, idle gaps and clock mismatch on the receiver; framing errors, glitches, overruns."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from rtmap.hw.uart import UartRx, UartTx


def line_levels(data: list[int], divisor: float, gaps: list[int]) -> list[int]:
    """The rx line, one level per clock cycle: each byte as start, 8 data bits LSB first and
    stop, ``divisor`` cycles a bit (fractional: a sender whose clock differs), after ``gaps``
    idle cycles."""
    levels = [1] * 8
    for byte, gap in zip(data, gaps, strict=True):
        levels += [1] * gap
        bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
        start = len(levels)
        for cycle in range(round(10 * divisor)):
            levels.append(bits[min(9, int(cycle / divisor))])
        assert len(levels) - start == round(10 * divisor)
    return levels + [1] * 4 * round(divisor)


def decode_line(levels: list[int], divisor: int) -> list[int]:
    """Bytes of a recorded tx line, sampled in the middle of each bit; a low stop bit fails."""
    out, i = [], 0
    while i < len(levels):
        if levels[i]:
            i += 1
            continue
        middle = i + divisor // 2
        bits = [levels[middle + k * divisor] for k in range(10)]
        assert bits[0] == 0 and bits[9] == 1, f"bad frame at cycle {i}: {bits}"
        out.append(sum(b << k for k, b in enumerate(bits[1:9])))
        i = middle + 9 * divisor + 1
    return out


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("divisor", [4, 5, 16, 17])
def test_tx_sends_every_byte_as_an_8n1_frame(divisor):
    rng = np.random.default_rng(divisor)
    data = [int(b) for b in rng.integers(0, 256, 12)]
    dut = UartTx(divisor)
    levels = []

    async def bench(ctx):
        pending = list(data)
        waits = [int(w) for w in rng.integers(0, 3 * divisor, len(data))]
        cycle = 0
        while pending or ctx.get(dut.data.ready) == 0 or cycle < 12 * divisor:
            offered = bool(pending) and waits[0] == 0
            ctx.set(dut.data.valid, offered)
            if offered:
                ctx.set(dut.data.payload, pending[0])
            elif pending:
                waits[0] -= 1  # the producer is not ready yet
            levels.append(ctx.get(dut.tx))
            took = offered and ctx.get(dut.data.ready)
            await ctx.tick()
            cycle += 1
            if took:
                pending.pop(0)
                waits.pop(0)
                cycle = 0
        levels.append(ctx.get(dut.tx))

    run(dut, bench)
    assert decode_line(levels, divisor) == data
    assert levels[-1] == 1


@pytest.mark.parametrize("divisor, skew", [(4, 1.0), (16, 1.0), (16, 1.03), (16, 0.97),
                                           (17, 1.02), (9, 0.98)])
def test_rx_receives_bytes_from_a_sender_whose_clock_differs(divisor, skew):
    rng = np.random.default_rng(divisor * 100 + int(skew * 100))
    data = [int(b) for b in rng.integers(0, 256, 16)]
    gaps = [int(g) for g in rng.integers(0, 2 * divisor, len(data))]
    levels = line_levels(data, divisor * skew, gaps)
    dut = UartRx(divisor)
    received = []

    async def bench(ctx):
        ctx.set(dut.data.ready, 1)
        for level in levels:
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.data.valid):
                received.append(ctx.get(dut.data.payload))
            assert not ctx.get(dut.framing_error)
        assert not ctx.get(dut.overrun)

    run(dut, bench)
    assert received == data


def test_rx_drops_a_framing_error_ignores_a_glitch_and_flags_an_overrun():
    divisor = 8
    good = line_levels([0x5A], divisor, [0])
    bad = line_levels([0x00], divisor, [0])
    bad[8 + 9 * divisor + divisor // 2] = 0  # the stop bit's middle is low
    # A glitch: low for less than half a bit, then idle.
    glitch = [1] * 8 + [0] * (divisor // 2 - 2) + [1] * 4 * divisor
    dut = UartRx(divisor)
    seen = {"bytes": [], "framing": 0}

    async def bench(ctx):
        ctx.set(dut.data.ready, 1)
        for level in glitch + bad + good:
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.data.valid):
                seen["bytes"].append(ctx.get(dut.data.payload))
            seen["framing"] += ctx.get(dut.framing_error)
        assert not ctx.get(dut.overrun)
        ctx.set(dut.data.ready, 0)  # nobody takes the next byte: it is lost, overrun sticks
        for level in good:
            ctx.set(dut.rx, level)
            await ctx.tick()
        assert ctx.get(dut.overrun)

    run(dut, bench)
    assert seen == {"bytes": [0x5A], "framing": 1}


def test_tx_into_rx_loopback_at_the_same_divisor():
    divisor = 6
    rng = np.random.default_rng(9)
    data = [int(b) for b in rng.integers(0, 256, 20)]
    from amaranth.hdl import Module

    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    received = []

    async def bench(ctx):
        ctx.set(rx.data.ready, 1)
        pending = list(data)
        for _ in range(len(data) * 10 * divisor + 4 * divisor):
            # Back to back: the next byte is offered as soon as the transmitter is ready.
            ctx.set(tx.data.valid, 1 if pending else 0)
            if pending:
                ctx.set(tx.data.payload, pending[0])
            took = pending and ctx.get(tx.data.ready)
            await ctx.tick()
            if took:
                pending.pop(0)
            if ctx.get(rx.data.valid):
                received.append(ctx.get(rx.data.payload))

    run(m, bench)
    assert received == data


@pytest.mark.parametrize("divisor", [3, 0, 4.5, True])
def test_a_divisor_too_small_is_refused(divisor):
    with pytest.raises(ValueError, match=r"^divisor must be an integer of at least 4 clock "
                       r"cycles per bit"):
        UartTx(divisor)
    with pytest.raises(ValueError, match=r"^divisor must be an integer"):
        UartRx(divisor)
