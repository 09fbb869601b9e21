"""Verilog generation: lint-clean at the default size and at odd ones, rewritten only when it
changes, carries an initial program, and run_cocotb reports build failures in one line."""

from __future__ import annotations

import os
import time

import pytest

from rtmap.errors import RtmapError
from rtmap.hw.verilog import write_verilog
from rtmap.isa import Instr, Opcode, encode, instruction_bits
from rtmap.params import MachineParams
from rtmap.rtlsim import run_cocotb, verilator_lint
from rtmap.toolchain import icarus_available

SIZES = {
    "default": MachineParams(),
    "odd": MachineParams(rows=5, tracks=3, domains=7, shift_latency=3, program_depth=100),
    "edge": MachineParams(rows=1, tracks=1, domains=1, program_depth=2),
}

PORTS = ("clk", "rst", "start", "busy", "done", "error", "error_code", "prog__valid",
         "prog__ready", "prog__payload", "data_in__valid", "data_in__ready", "data_in__payload",
         "data_out__valid", "data_out__ready", "data_out__payload", "cycles", "searches",
         "writes", "shifts", "io_words")


def port_widths(text: str, module: str = "rtmap_top") -> dict[str, int]:
    """Port name -> width, from the declarations of ``module`` in Amaranth's Verilog."""
    body = text[text.index(f"module {module}("):]
    body = body[:body.index("endmodule")]
    widths = {}
    for line in body.splitlines():
        words = line.strip().rstrip(";").split()
        if words and words[0] in ("input", "output"):
            rest = words[1:]
            if rest and rest[0] == "wire":
                rest = rest[1:]
            width = 1
            if rest[0].startswith("["):
                high = int(rest[0][1:].split(":")[0])
                width, rest = high + 1, rest[1:]
            widths[rest[0].lstrip("\\")] = width
    return widths


@pytest.mark.parametrize("size", sorted(SIZES))
def test_verilog_lints_and_has_the_isa_ports(size, tmp_path):
    params = SIZES[size]
    path = write_verilog(params, tmp_path / "rtmap_top.v")
    verilator_lint(path, "rtmap_top")
    widths = port_widths(path.read_text())
    assert set(widths) == set(PORTS)
    expected = {"error_code": 3, "prog__payload": params.pc_bits + instruction_bits(params),
                "data_in__payload": params.tracks, "data_out__payload": params.tracks}
    expected.update({name: 32 for name in ("cycles", "searches", "writes", "shifts",
                                           "io_words")})
    for name in PORTS:
        assert widths[name] == expected.get(name, 1), name


def test_verilog_rewritten_only_when_changed(tmp_path):
    params = SIZES["odd"]
    path = write_verilog(params, tmp_path / "top.v")
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    write_verilog(params, path)
    assert path.stat().st_mtime_ns == before
    halt = encode(Instr(Opcode.HALT), params)
    write_verilog(params, path, program=[halt])
    assert path.stat().st_mtime_ns != before
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))  # no temp file left


def test_verilog_carries_the_initial_program(tmp_path):
    params = SIZES["odd"]
    words = [encode(Instr(Opcode.SETROW, row=3), params), encode(Instr(Opcode.HALT), params)]
    text = write_verilog(params, tmp_path / "top.v", program=words).read_text()
    bits = instruction_bits(params)
    for addr, word in enumerate(words):
        assert f"\\program [{addr}] = {bits}'h{word:0{(bits + 3) // 4}x};" in text
    # The length register starts at the program's length.
    pc_bits = params.pc_bits
    assert f"reg [{pc_bits - 1}:0] length = {pc_bits}'h{2:0{(pc_bits + 3) // 4}x};" in text


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_run_cocotb_reports_a_build_failure(simulator, tmp_path):
    if simulator == "icarus" and not icarus_available():
        pytest.skip("Icarus Verilog not installed")
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input clk); this is not verilog endmodule\n")
    with pytest.raises(RtmapError, match=f"{simulator} build in .* failed"):
        run_cocotb(sources=[bad], toplevel="bad", test_module="nonexistent_bench",
                   build_dir=tmp_path / "build", simulator=simulator)


def test_lint_reports_a_problem(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input clk, output [1:0] q);\n  assign q = clk + 3'd5;\nendmodule\n")
    with pytest.raises(RtmapError, match="verilator lint of .*%"):
        verilator_lint(bad, "bad", extra_args=["-Wall"])
