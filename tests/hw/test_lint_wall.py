"""Verilator --lint-only -Wall on the whole processor: clean but for the waivers that
rtmap.rtlsim.VERILATOR_WALL_WAIVERS lists and justifies one by one."""

import pytest

from rtmap.hw.verilog import write_verilog
from rtmap.params import MachineParams
from rtmap.rtlsim import VERILATOR_WALL_WAIVERS, verilator_lint


@pytest.mark.parametrize("params", [
    MachineParams(),
    MachineParams(rows=1, tracks=1, domains=1, program_depth=2),
    MachineParams(rows=37, tracks=5, domains=9, shift_latency=3, program_depth=100),
], ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_wall_lint_is_clean_with_justified_waivers(params, tmp_path):
    path = write_verilog(params, tmp_path / "rtmap_top.v")
    verilator_lint(path, "rtmap_top", extra_args=VERILATOR_WALL_WAIVERS)
