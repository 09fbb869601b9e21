"""cocotb side of the differential test: many programs, one after another, on one RTL build.

The job (JSON named by RTMAP_JOB) lists programs with their input words; each is loaded
through the ``prog`` stream and run once, exactly as ``rtmap run --backend rtl`` does, and the
outputs, counters, error, measured clock cycles and final tag register are written back.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb_common import clock_and_reset

from rtmap.params import MachineParams
from rtmap.sim.rtl_bench import execute, load_program


@cocotb.test()
async def run_programs(dut):
    with open(os.environ["RTMAP_JOB"]) as f:
        job = json.load(f)
    params = MachineParams.from_dict(job["params"])
    await clock_and_reset(dut, {"start": 0, "prog__valid": 0, "data_in__valid": 0,
                                "data_out__ready": 0})
    results = []
    for program in job["programs"]:
        await load_program(dut, program["words"], params.pc_bits)
        results.append(await execute(dut, program["inputs"], job["max_cycles"]))
    with open(job["result"], "w") as f:
        json.dump(results, f)
