"""cocotb host bench for the whole processor: the RTL side of ``rtmap run --backend rtl``.

It plays the host exactly as an FPGA bridge would: loads the program through the ``prog``
stream, then for each run pulses ``start``, feeds ``data_in``, drains ``data_out`` and waits
for ``done`` or ``error``, and records the outputs and counters. The job comes as a JSON file
named by ``RTMAP_JOB``; results go to the path the job names.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from rtmap.hw.controller import RUN_OVERHEAD
from rtmap.isa import COUNTERS
from rtmap.params import MachineParams


async def load_program(dut, words: list[int], pc_bits: int) -> None:
    for addr, word in enumerate(words):
        dut.prog__payload.value = addr | word << pc_bits
        dut.prog__valid.value = 1
        await ReadOnly()
        while not int(dut.prog__ready.value):
            await RisingEdge(dut.clk)
            await ReadOnly()
        await RisingEdge(dut.clk)
    dut.prog__valid.value = 0


CLOCK_NS = 10


async def execute(dut, stream: list[int], max_cycles: int) -> dict:
    """One run: start, stream words in and out until done or error.

    ``clock_cycles`` counts the clock cycles from the first instruction's to the one that ended
    the run, measured here (from the simulation time, less the fixed ``RUN_OVERHEAD``: the
    fetch stages fill after start, and done or error shows a few cycles after the end)
    rather than read from the design's own counter; with the host never starving the streams
    it must equal the ``cycles`` counter. The words still queued when done shows are read out
    after it. Python looks at every cycle only while words move: while the program computes,
    the bench sleeps until a stream or the done/error flags change, so Verilator runs the long
    stretches of searches, writes and shifts on its own.
    """
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    pending = list(stream)
    outputs: list[int] = []
    dut.data_out__ready.value = 1
    starved = 0
    dut.data_in__valid.value = 1 if pending else 0
    if pending:
        dut.data_in__payload.value = pending[0]
    await ReadOnly()  # the settled values of this cycle decide what the next edge moves
    origin = get_sim_time("ns")
    while True:
        clock = round((get_sim_time("ns") - origin) / CLOCK_NS)
        took = pending and int(dut.data_in__ready.value)
        gave = int(dut.data_out__valid.value)
        if gave:
            outputs.append(int(dut.data_out__payload.value))
        finished = int(dut.done.value) or int(dut.error.value)
        starved += int(not pending and int(dut.data_in__ready.value))
        if finished:
            break
        if clock >= max_cycles:
            raise RuntimeError(f"no done or error after {max_cycles} cycles")
        busy = took or gave or int(dut.data_in__ready.value)
        if busy:
            await RisingEdge(dut.clk)
            if took:
                pending.pop(0)
            dut.data_in__valid.value = 1 if pending else 0
            if pending:
                dut.data_in__payload.value = pending[0]
        else:  # nothing moves until one of these rises (or the cycle budget runs out)
            await First(RisingEdge(dut.data_in__ready), RisingEdge(dut.data_out__valid),
                        RisingEdge(dut.done), RisingEdge(dut.error),
                        Timer((max_cycles - clock) * CLOCK_NS, "ns"))
        await ReadOnly()
    counters = {name: int(getattr(dut, name).value) for name in COUNTERS}
    error = int(dut.error_code.value) if int(dut.error.value) else 0
    tags = _peek_int(dut, "tags")
    while gave:  # the words still queued (data_out.ready stays high)
        await RisingEdge(dut.clk)
        await ReadOnly()
        gave = int(dut.data_out__valid.value)
        if gave:
            outputs.append(int(dut.data_out__payload.value))
    await RisingEdge(dut.clk)  # leave the read-only phase before driving anything again
    dut.data_in__valid.value = 0
    return {
        "outputs": outputs,
        "counters": counters,
        "error": error,
        "left_unread": len(pending),
        "clock_cycles": clock - RUN_OVERHEAD,
        "starved_cycles": starved,
        # The tag register, peeked for differential tests (not a port; None if not visible).
        "tags": tags,
    }


def _peek_int(dut, name: str) -> int | None:
    try:
        return int(getattr(dut, name).value)
    except (AttributeError, ValueError):
        return None


@cocotb.test()
async def run_job(dut):
    with open(os.environ["RTMAP_JOB"]) as f:
        job = json.load(f)
    params = MachineParams.from_dict(job["params"])
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    dut.rst.value = 1
    dut.start.value = 0
    dut.prog__valid.value = 0
    dut.data_in__valid.value = 0
    dut.data_out__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await load_program(dut, job["words"], params.pc_bits)
    results = [await execute(dut, stream, job["max_cycles"]) for stream in job["runs"]]
    with open(job["result"], "w") as f:
        json.dump({"runs": results}, f)
