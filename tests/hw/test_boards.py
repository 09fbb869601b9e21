"""Board targets without the tools: every board's build plan (amaranth's do_build=False: the
design elaborated for the board, its pins and constraints), the fit check, the report, and
`rtmap fpga build`'s refusals. The bitstream builds themselves are `make fpga`'s."""

from __future__ import annotations

import json
import re

import pytest

from rtmap.cli import main
from rtmap.errors import RtmapError
from rtmap.hw.boards import BOARDS, board_named
from rtmap.hw.boards.build import core_clock_fmax, format_report, plan, summarize
from rtmap.hw.boards.fit import (
    LOGIC_HEADROOM,
    board_array,
    check_fits,
    estimate,
    largest_rows,
    shortfall,
)
from rtmap.hw.boards.pll import ecp5_dividers, ice40_dividers
from rtmap.hw.boards.top import BoardClock
from rtmap.params import MachineParams

PRIMITIVE = {"ecp5": "EHXPLLL", "ice40": "SB_PLL40_PAD"}
CONSTRAINTS_FILE = {"ecp5": "lpf", "ice40": "pcf"}


def pins_of(platform, resource: str, number: int = 0, subsignal: str | None = None) -> list:
    """The package pins amaranth-boards gives a resource (or one of its subsignals)."""
    res = platform.lookup(resource, number)
    ios = res.ios
    if subsignal is not None:
        ios = next(sub for sub in ios if sub.name == subsignal).ios
    return [name for io in ios for name in io.map_names(platform._conn_pins, res)]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_plans_a_build(name):
    board = board_named(name)
    params = board_array(board)
    build_plan, clock = plan(board, params)
    files = build_plan.files
    rtlil = files[f"rtmap_{name}.il"]
    # The PLL is there, with the dividers our solver picked for the constraints file's target.
    settings = board.constraints
    solve = ecp5_dividers if board.family == "ecp5" else ice40_dividers
    expected = solve(settings["clock"]["input_mhz"], settings["timing"]["target_mhz"])
    assert clock.dividers == expected
    assert f"cell \\{PRIMITIVE[board.family]}" in rtlil
    if board.family == "ecp5":
        for param, value in (("CLKI_DIV", expected.reference), ("CLKFB_DIV", expected.feedback),
                             ("CLKOP_DIV", expected.output)):
            assert re.search(rf"parameter \\{param} {value}\b", rtlil), param
    else:
        for param, value in (("DIVR", expected.reference - 1), ("DIVF", expected.feedback - 1),
                             ("DIVQ", expected.output.bit_length() - 1)):
            assert re.search(rf"parameter \\{param} {value}\b", rtlil), param
    # The processor behind the UART, with the divisor for the constraints file's baud.
    assert clock.divisor == round(clock.mhz * 1e6 / settings["uart"]["baud"])
    assert "rtmap_" + name in files[f"rtmap_{name}.ys"]
    # nextpnr gets the seed, and on ECP5 the options that buy timing on large arrays.
    script = files[f"build_rtmap_{name}.sh"]
    assert "--seed 1" in script
    assert ("--router router2 --placer-heap-timingweight 100 --tmg-ripup" in script) \
        == (board.family == "ecp5")
    # Pins: the board clock, the UART's rx and tx, one per LED role; as amaranth-boards has them.
    pins = files[f"rtmap_{name}.{CONSTRAINTS_FILE[board.family]}"]
    platform = board.make_platform()
    clock_pin, uart = settings["clock"]["resource"], settings["uart"]["resource"]
    wanted = (pins_of(platform, clock_pin) + pins_of(platform, uart, subsignal="rx")
              + pins_of(platform, uart, subsignal="tx"))
    for number in range(len(settings["leds"]["roles"])):
        wanted += pins_of(platform, "led", number)
    for pin in wanted:
        assert re.search(rf'(SITE "{pin}";|^set_io \S+ {pin}$)', pins, re.M), pin
    # The board clock is timed at its frequency; nextpnr derives the PLL output's from it.
    in_mhz = settings["clock"]["input_mhz"]
    if board.family == "ecp5":
        assert f'FREQUENCY PORT "{clock_pin}_0__io" {in_mhz * 1e6} HZ;' in pins
    else:
        assert f"set_frequency {clock_pin}_0__io {in_mhz}" in pins


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_default_arrays_fit_and_larger_ones_are_refused(name):
    board = board_named(name)
    params = board_array(board)
    check_fits(board, params)
    most = largest_rows(board, params.tracks, params.domains, program_depth=params.program_depth)
    assert most >= params.rows
    bigger = MachineParams(rows=most + 1, tracks=params.tracks, domains=params.domains,
                           program_depth=params.program_depth)
    assert shortfall(board, bigger) is not None
    message = (f"{most + 1} x {params.tracks} x {params.domains} does not fit the "
               f"{board.title}: it needs about .*; {most} rows of {params.tracks} tracks x "
               f"{params.domains} domains would fit")
    with pytest.raises(RtmapError, match=message):
        check_fits(board, bigger)


def test_the_fit_counts_ram_blocks_by_the_parts_shapes():
    ulx3s, icebreaker = board_named("ulx3s"), board_named("icebreaker")
    p = MachineParams(rows=40, tracks=8, domains=8, program_depth=4096)  # 24-bit instructions
    need = estimate(ulx3s, p)
    # ECP5: 4096 x 24 program words in 4096 x 4 blocks (6), their 4096 x 2 kinds (1), each
    # 256 x 8 FIFO in one block; the array's row groups of 32 and 8 rows, 8 x 256 and 8 x 64
    # bits, in 16 x 4 LUT RAM slices (64 + 16), and the 8 x 8 output queue (2); the two-word
    # buffered FIFOs between link and processor are flip-flops.
    assert (need["ram_block"], need["ram_distributed"]) == (6 + 1 + 2, 64 + 16 + 2)
    p = MachineParams(rows=40, tracks=8, domains=8, program_depth=1024)
    need = estimate(icebreaker, p)
    # iCE40: 1024 x 24 in 1024 x 4 blocks (6), their kinds (1), FIFOs 256 x 8 (1 each), the
    # groups' 8 x 256 and 8 x 64 bits in 256 x 16 blocks (16 + 4); no LUT RAM (the queue and
    # the FIFOs between link and processor are flip-flops).
    assert (need["ram_block"], need["ram_distributed"]) == (6 + 1 + 2 + 16 + 4, 0)


def test_a_board_array_takes_what_is_given_and_refuses_what_cannot_fit():
    board = board_named("icebreaker")
    assert board_array(board, rows=4, tracks=4, domains=4).rows == 4
    with pytest.raises(RtmapError, match=r"256 x 32 x 16 does not fit the 1BitSquared "
                       r"iCEBreaker, iCE40 UP5K: it needs about \d+ logic cells, more than the "
                       rf"{int(5280 * LOGIC_HEADROOM['ice40'])} it can use"):
        board_array(board, rows=256, tracks=32, domains=16)
    with pytest.raises(RtmapError, match="parameter tracks=0 is out of range"):
        board_array(board, tracks=0)


def test_clock_and_baud_refusals():
    board = board_named("ulx3s")
    with pytest.raises(RtmapError, match="an ECP5 PLL output must be 10 to 400 MHz, not 500"):
        BoardClock(board, 500)
    with pytest.raises(RtmapError, match="3000000 baud is not within 2% of a whole divisor of "
                       "25 MHz"):
        BoardClock(board, 25, baud=3_000_000)


def fake_reports(family: str, fmax: float, target: float, out_dir) -> None:
    """nextpnr's JSON report (and for iCE40 Yosys's statistics) as a build leaves them."""
    name = "rtmap_ulx3s" if family == "ecp5" else "rtmap_icebreaker"
    cells = {"ecp5": {"TRELLIS_COMB": 4000, "TRELLIS_FF": 1000, "TRELLIS_RAMW": 32,
                      "DP16KD": 8, "EHXPLLL": 1},
             "ice40": {"ICESTORM_LC": 4000, "ICESTORM_RAM": 16, "ICESTORM_PLL": 1}}[family]
    (out_dir / f"{name}.report.json").write_text(json.dumps({
        "utilization": {k: {"used": v, "available": 99999} for k, v in cells.items()},
        "fmax": {"$glbnet$clk": {"achieved": fmax, "constraint": target},
                 "clk_board": {"achieved": 400.0, "constraint": 12.0}}}))
    # Yosys prints statistics per module and then for the whole design: only the last count.
    (out_dir / f"{name}.rpt").write_text(
        "=== rtmap ===\n     9999   SB_LUT4\n"
        "=== design hierarchy ===\n      538   SB_CARRY\n      212   SB_DFF\n"
        "      385   SB_DFFE\n      752   SB_DFFESR\n       61   SB_DFFSR\n"
        "     3680   SB_LUT4\n")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_the_report_takes_the_tools_figures(name, tmp_path):
    board = board_named(name)
    params = board_array(board)
    clock = BoardClock(board, board.constraints["timing"]["target_mhz"])
    fake_reports(board.family, clock.mhz - 1, clock.mhz, tmp_path)
    report = summarize(board, params, clock, tmp_path, 12.0)
    assert report["fmax_mhz"] == pytest.approx(clock.mhz - 1, abs=0.01)
    assert report["timing_met"] is False
    assert report["target_mhz"] == pytest.approx(clock.mhz, abs=1e-3)
    if board.family == "ecp5":
        assert (report["lut"], report["ff"], report["ram_distributed"],
                report["ram_block"]) == (4000, 1000, 32, 8)
    else:
        assert (report["logic_cells"], report["lut"], report["ff"], report["ram_distributed"],
                report["ram_block"]) == (4000, 3680, 212 + 385 + 752 + 61, 0, 16)
    table = format_report(report)
    assert "MISSED" in table and f"{report['lut']} of {board.capacity['lut']}" in table


def test_the_core_clock_is_the_one_constrained_to_the_target():
    fmax = {"clk25": {"achieved": 300.0, "constraint": 25.0},
            "$glbnet$clk": {"achieved": 41.5, "constraint": 40.0}}
    assert core_clock_fmax(fmax, 40.0) == 41.5
    with pytest.raises(RtmapError, match="nextpnr reported no clock"):
        core_clock_fmax({}, 40.0)


def test_cli_fpga_build_refusals(capsys):
    assert main(["fpga", "build", "--board", "de10"]) == 2
    assert "error: unknown board 'de10'; boards: ulx3s, icebreaker" in capsys.readouterr().err
    assert main(["fpga", "build", "--board", "icebreaker", "--rows", "4096"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 4096 x 8 x 8 does not fit the 1BitSquared iCEBreaker")
    assert err.count("\n") == 1
    assert main(["fpga", "build", "--board", "ulx3s", "--target-mhz", "abc"]) == 2
    assert "'abc' is not a positive number" in capsys.readouterr().err


def test_cli_fpga_build_plan_only_writes_the_build(tmp_path, capsys):
    assert main(["fpga", "build", "--board", "icebreaker", "--rows", "4", "--tracks", "4",
                 "--domains", "4", "--plan-only", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 x 4 x 4" in out and "build_rtmap_icebreaker.sh" in out
    assert (tmp_path / "icebreaker" / "rtmap_icebreaker.il").exists()
    assert (tmp_path / "icebreaker" / "build_rtmap_icebreaker.sh").exists()


def test_a_broken_constraints_file_is_one_line(monkeypatch, tmp_path):
    import rtmap.hw.boards as boards

    (tmp_path / "ulx3s.toml").write_text('[clock]\nresource = "clk25"\ninput_mhz = "fast"\n')
    (tmp_path / "icebreaker.toml").write_text("[clock\n")
    (tmp_path / "blinky.toml").write_text(
        '[clock]\nresource = "clk"\ninput_mhz = 12\n[timing]\ntarget_mhz = 20\n'
        '[uart]\nresource = "uart"\nbaud = 9600\n[leds]\nroles = ["busy", "disco"]\n')
    monkeypatch.setattr(boards.resources, "files", lambda package: tmp_path)
    boards.constraints.cache_clear()
    try:
        with pytest.raises(RtmapError, match=r"^constraints/ulx3s.toml: \[clock\] input_mhz is "
                           "missing or not a number$"):
            boards.constraints("ulx3s")
        with pytest.raises(RtmapError, match=r"^constraints/icebreaker.toml: "):
            boards.constraints("icebreaker")
        with pytest.raises(RtmapError, match=r"^constraints/blinky.toml: unknown LED role\(s\) "
                           "disco; roles: heartbeat, busy, done, error$"):
            boards.constraints("blinky")
    finally:
        boards.constraints.cache_clear()


def test_a_failed_build_says_its_first_error(tmp_path):
    from rtmap.hw.boards.build import first_error

    log = tmp_path / "build.log"
    log.write_text("Info: placing\nERROR: Unable to place cell 'x', no BELs remaining\n"
                   "ERROR: later\n1 warning, 2 errors\n")
    assert first_error(log) == "ERROR: Unable to place cell 'x', no BELs remaining"
    log.write_text("yosys: command not found\n\n")
    assert first_error(log) == "yosys: command not found"
    log.write_text("")
    assert first_error(log) == "no output"
