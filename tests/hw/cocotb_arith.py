"""cocotb bench for ArithSequencer (module ``rtmap_arith``): random adds and subtracts, each
cycle's array operation against the ISA's list of micro steps (hw_models.arith_cycles)."""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import arith_cycles, random_arith

FIELDS = ("mode", "dest", "src", "bits", "width")


@cocotb.test()
async def random_instructions(dut):
    params = bench_params()
    rng, seed = bench_rng(dut)
    await clock_and_reset(dut, dict.fromkeys(("run", *FIELDS), 0))
    for index in range(40):
        instr = random_arith(rng, params)
        await FallingEdge(dut.clk)
        for name in FIELDS:
            value = getattr(instr, name)
            getattr(dut, name).value = value.value if name == "mode" else value
        dut.run.value = 1
        got = []
        while True:
            await ReadOnly()
            if not got:
                assert int(dut.first.value) == 1, f"seed {seed} instruction {index}"
            if int(dut.search.value) or int(dut.write.value):
                got.append(("search" if int(dut.search.value) else "write",
                            int(dut.key.value), int(dut.mask.value)))
            elif int(dut.step_up.value):
                got.append(("up", 1))
            elif int(dut.step_back.value):
                got.append(("back", instr.width - 1))
            else:
                got.append(("wait",))
            last = int(dut.last.value)
            await RisingEdge(dut.clk)
            if last:
                break
            assert len(got) < 2000, f"seed {seed}: no last cycle"
        await FallingEdge(dut.clk)
        dut.run.value = 0
        assert got == arith_cycles(instr, params), f"seed {seed} instruction {index}: {instr}"
