"""cocotb bench: the processor behind its UART (``UartProcessor``), driven by the host code a
board is driven with (rtmap.fpga.LinkClient), through a simulated serial line, bit by bit.

The job (RTMAP_JOB, JSON) names the program, the runs' input streams, the divisor, and where
to write what came back. The host code runs in a thread of its own (``cocotb.bridge``); its
transport's ``write`` and ``read`` drive and sample the pins in simulation (``cocotb.resume``).
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time
from cocotb_common import clock_and_reset

from rtmap.fpga import LinkClient
from rtmap.params import MachineParams

CLOCK_NS = 10


class SimulatedSerial:
    """A transport whose bytes are the UART pins' bits (8N1, ``divisor`` cycles a bit)."""

    def __init__(self, dut, divisor: int, timeout_cycles: int):
        self.dut, self.divisor, self.timeout = dut, divisor, timeout_cycles
        self.received = bytearray()
        self.arrived = Event()
        self.bytes_sent = self.bytes_received = 0
        cocotb.start_soon(self._listen())
        self.write = resume(self._write)
        self.read = resume(self._read)

    async def _listen(self) -> None:
        dut, divisor = self.dut, self.divisor
        while True:
            await FallingEdge(dut.tx)  # a start bit
            await ClockCycles(dut.clk, divisor // 2)
            assert int(dut.tx.value) == 0, "a start bit shorter than half a bit"
            value = 0
            for bit in range(8):
                await ClockCycles(dut.clk, divisor)
                value |= int(dut.tx.value) << bit
            await ClockCycles(dut.clk, divisor)
            assert int(dut.tx.value) == 1, "a stop bit that is low"
            self.received.append(value)
            self.bytes_received += 1
            self.arrived.set()

    async def _write(self, data: bytes) -> None:
        for byte in data:
            for level in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx.value = level
                await ClockCycles(self.dut.clk, self.divisor)
            self.bytes_sent += 1

    async def _read(self, size: int) -> bytes:
        deadline = get_sim_time("ns") + self.timeout * CLOCK_NS
        while len(self.received) < size:
            left = deadline - get_sim_time("ns")
            if left <= 0:
                break
            self.arrived.clear()
            await First(self.arrived.wait(), Timer(left, "ns"))
        data = bytes(self.received[:size])
        del self.received[:size]
        return data


@cocotb.test()
async def run_job(dut):
    with open(os.environ["RTMAP_JOB"]) as f:
        job = json.load(f)
    params = MachineParams.from_dict(job["params"])
    await clock_and_reset(dut, {"rx": 1})  # a 10 ns clock: CLOCK_NS
    serial = SimulatedSerial(dut, job["divisor"], timeout_cycles=job["timeout_cycles"])

    def host() -> dict:  # exactly what `rtmap fpga run` does with a real port
        link = LinkClient(serial)
        found = link.connect()
        assert found == params, f"the board says {found}, the job {params}"
        link.load_program(job["words"])
        before = serial.bytes_sent, serial.bytes_received
        runs = [link.run(stream) for stream in job["runs"]]
        return {"runs": [{"outputs": r["outputs"], "counters": r["counters"],
                          "error": r["error"].value} for r in runs],
                # What the runs alone put on the line, each way.
                "run_bytes": [serial.bytes_sent - before[0],
                              serial.bytes_received - before[1]]}

    start = get_sim_time("ns")
    result = await bridge(host)()
    result["cycles"] = round((get_sim_time("ns") - start) / CLOCK_NS)
    with open(job["result"], "w") as f:
        json.dump(result, f)
