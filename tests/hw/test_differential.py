"""Differential testing: random legal programs on the instruction simulator and on the RTL
(Verilator) leave identical array contents, flags, tags, outputs, counters and cycle counts.

Programs come from hw_models.random_program: they load the whole array, run random searches,
writes, shifts, row I/O and nested loops (sometimes with a faulting word inside), and dump the
whole array and the flags through READ, so the outputs carry the array's final contents. The
tag register is compared directly. The seed is printed on failure.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hw_models import random_program
from test_cocotb_blocks import HERE

from rtmap.hw.top import RtmapTop
from rtmap.hw.verilog import component_verilog, write_if_changed
from rtmap.isa import ErrorCode, instruction_bits
from rtmap.params import MachineParams
from rtmap.rtlsim import run_cocotb
from rtmap.sim.machine import Machine

# (params, programs): edge sizes and odd ones; together well over 10,000 executed instructions.
CONFIGS = {
    "1x1x2": (MachineParams(rows=1, tracks=1, domains=2, program_depth=512), 60),
    "5x3x4_lat2": (MachineParams(rows=5, tracks=3, domains=4, shift_latency=2,
                                 program_depth=512), 30),
    "13x6x5": (MachineParams(rows=13, tracks=6, domains=5, program_depth=512), 25),
    "33x5x3_lat3": (MachineParams(rows=33, tracks=5, domains=3, shift_latency=3,
                                  program_depth=1024), 15),
}
SEED = 2026


def make_programs(params: MachineParams, count: int, rng: np.random.Generator) -> list[dict]:
    mask = (1 << instruction_bits(params)) - 1  # what the prog stream carries
    programs = []
    for index in range(count):
        words = [w & mask for w in random_program(rng, params, length=60,
                                                  faults=index % 4 == 3)]
        inputs = [int(v) for v in rng.integers(0, 1 << params.tracks,
                                               params.rows * params.domains + 600)]
        programs.append({"words": words, "inputs": inputs})
    return programs


def run_on_simulator(params: MachineParams, programs: list[dict]) -> list[dict]:
    machine = Machine(params)  # one machine for all: contents persist as on the RTL
    results = []
    for program in programs:
        result = machine.run(program["words"], program["inputs"])
        tags = sum(int(bit) << row for row, bit in enumerate(machine.tag_bits()))
        results.append({"outputs": result.outputs, "counters": result.counters,
                        "error": result.error.value, "tags": tags})
    return results


@pytest.mark.rtl
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(f"diff_{n}"))
                                  for n in sorted(CONFIGS)], ids=str)
def test_random_programs_agree_with_the_simulator(name, rtl_build_dir):
    params, count = CONFIGS[name]
    seed = SEED + sorted(CONFIGS).index(name)
    programs = make_programs(params, count, np.random.default_rng(seed))
    expected = run_on_simulator(params, programs)

    build_dir = rtl_build_dir / "differential" / name
    verilog = write_if_changed(build_dir / "rtmap_top.v",
                               component_verilog(RtmapTop(params), "rtmap_top"))
    job, result = build_dir / "job.json", build_dir / "result.json"
    job.write_text(json.dumps({"params": params.as_dict(), "programs": programs,
                               "max_cycles": 200_000, "result": str(result)}))
    result.unlink(missing_ok=True)
    run_cocotb(sources=[verilog], toplevel="rtmap_top", test_module="cocotb_differential",
               build_dir=build_dir, test_dir=HERE, extra_env={"RTMAP_JOB": str(job)})
    got = json.loads(result.read_text())

    executed = 0
    for index, (rtl, sim) in enumerate(zip(got, expected, strict=True)):
        where = f"{name}: seed {seed}, program {index}"
        assert rtl["error"] == sim["error"], where
        assert rtl["outputs"] == sim["outputs"], where
        assert rtl["counters"] == sim["counters"], where
        assert rtl["tags"] == sim["tags"], where
        if sim["error"] == ErrorCode.NONE.value:
            assert rtl["clock_cycles"] == sim["counters"]["cycles"], where
        executed += sim["counters"]["searches"] + sim["counters"]["writes"] + \
            sim["counters"]["io_words"]
    print(f"{name}: {count} programs, {executed} search/write/io instructions, seed {seed}")
    assert executed >= 2000, f"{name}: only {executed} instructions exercised"
