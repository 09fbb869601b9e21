"""Slow tier: each block's Verilog under cocotb, on Verilator (and Icarus when installed).

One build directory per (block, simulator, size) under the session's ``rtl_build_dir``, owned
by one xdist worker (``xdist_group``); Verilator skips rebuilding unchanged Verilog, and the
Verilog file is only rewritten when its text changes. RTMAP_WAVES=1 dumps waveforms into the
build directory (a Verilator rebuild with tracing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rtmap.hw.arith import ArithSequencer
from rtmap.hw.cam_array import CamArray
from rtmap.hw.tags import TagLogic
from rtmap.hw.top import RtmapTop
from rtmap.hw.verilog import component_verilog, write_if_changed
from rtmap.params import MachineParams
from rtmap.rtlsim import run_cocotb
from rtmap.toolchain import icarus_available

HERE = Path(__file__).resolve().parent

# Two sizes per block: a small odd one (of more than one region of row groups where rows
# matter: array groups of 16 rows at 30 tracks, tag groups of 16, regions of 64), and an
# edge one (one row, one or two tracks, two
# domains, a program memory that is not a power of two deep). The array and the whole
# processor run a third time with the array in block RAM (a synchronous read port, as iCE40
# builds use it): "block_ram".
SIZES = {
    "cam_array": {
        "small": MachineParams(rows=70, tracks=30, domains=7, program_depth=16),
        "edge": MachineParams(rows=1, tracks=1, domains=2, program_depth=16),
        "block_ram": MachineParams(rows=20, tracks=3, domains=7, program_depth=16),
    },
    "tags": {
        "small": MachineParams(rows=150, tracks=1, domains=1, program_depth=16),
        "edge": MachineParams(rows=1, tracks=1, domains=1, program_depth=16),
    },
    "arith": {
        "small": MachineParams(rows=1, tracks=5, domains=9, shift_latency=3, program_depth=16),
        "edge": MachineParams(rows=1, tracks=2, domains=1, program_depth=16),
    },
    "top": {
        "small": MachineParams(rows=21, tracks=3, domains=7, shift_latency=2, program_depth=256),
        "edge": MachineParams(rows=1, tracks=2, domains=2, program_depth=100),
        "block_ram": MachineParams(rows=5, tracks=3, domains=7, shift_latency=2,
                                   program_depth=256),
    },
}

BUILDERS = {
    "cam_array": CamArray,
    "tags": lambda params, storage: TagLogic(params.rows),
    "arith": lambda params, storage: ArithSequencer(params),
    "top": lambda params, storage: RtmapTop(params, storage=storage),
}


def cases():
    for simulator in ("verilator", "icarus"):
        skip = pytest.mark.skipif(simulator == "icarus" and not icarus_available(),
                                  reason="Icarus Verilog not installed")
        for block, sizes in SIZES.items():
            for size in sizes:
                group = f"{block}_{size}_{simulator}"
                yield pytest.param(block, size, simulator, id=group,
                                   marks=[pytest.mark.rtl, pytest.mark.xdist_group(group), skip])


@pytest.mark.parametrize(("block", "size", "simulator"), list(cases()))
def test_block_on_cocotb(block, size, simulator, rtl_build_dir):
    params = SIZES[block][size]
    storage = "block" if size == "block_ram" else "distributed"
    toplevel = f"rtmap_{block}"
    build_dir = rtl_build_dir / "blocks" / f"{block}_{size}_{simulator}"
    verilog = write_if_changed(build_dir / f"{toplevel}.v",
                               component_verilog(BUILDERS[block](params, storage), toplevel))
    seed = sorted(SIZES).index(block) * 10 + list(SIZES[block]).index(size)
    run_cocotb(sources=[verilog], toplevel=toplevel, test_module=f"cocotb_{block}",
               build_dir=build_dir, simulator=simulator, test_dir=HERE,
               extra_env={"RTMAP_PARAMS": json.dumps(params.as_dict()),
                          "RTMAP_SEED": str(seed)},
               waves=bool(os.environ.get("RTMAP_WAVES")))
