"""FPGA figures for issue #3: the processor on the ECP5-85F (ULX3S), synthesised and placed
with YoWASP Yosys and nextpnr from PyPI. Slow (minutes per size; the default 256 x 32 x 16
takes much longer), so sizes come from RTMAP_FPGA_SIZES (e.g. "16x8x8,64x16x16"), and
nextpnr's placement seeds from RTMAP_FPGA_SEEDS (default "1"; at 256 rows Fmax depends on
the seed, so "1,2,3" shows the spread), each stopped after RTMAP_FPGA_SEED_MINUTES if set
(a failing placement's routing passes can go on for hours). Results go to
build/bench/fpga/fpga.json, each seed's nextpnr report and log to
build/bench/fpga/<size>/seed<N>/.
`python bench/bench_fpga.py`.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import synthesize  # noqa: E402

from rtmap.hw.boards.build import NEXTPNR_ECP5_TIMING  # noqa: E402
from rtmap.params import MachineParams  # noqa: E402

BUILD = Path(__file__).resolve().parent.parent / "build" / "bench" / "fpga"


def refuse(message: str):
    """A bad environment setting: one line on stderr, exit status 2."""
    print(f"bench_fpga: {message}", file=sys.stderr)
    sys.exit(2)


def sizes() -> list[MachineParams]:
    text = os.environ.get("RTMAP_FPGA_SIZES", "16x8x8,64x16x16")
    out = []
    for item in text.split(","):
        try:
            rows, tracks, domains = (int(v) for v in item.strip().split("x"))
        except ValueError:
            refuse(f"RTMAP_FPGA_SIZES item {item.strip()!r} is not ROWSxTRACKSxDOMAINS")
        try:
            out.append(MachineParams(rows=rows, tracks=tracks, domains=domains,
                                     program_depth=1024))
        except ValueError as error:
            refuse(f"RTMAP_FPGA_SIZES item {item.strip()!r}: {error}")
    return out


def seeds() -> tuple[int, ...]:
    text = os.environ.get("RTMAP_FPGA_SEEDS", "1")
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        refuse(f"RTMAP_FPGA_SEEDS={text!r} is not a comma-separated list of integers")


def seed_minutes() -> float | None:
    text = os.environ.get("RTMAP_FPGA_SEED_MINUTES", "")
    if not text:
        return None
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0.0
    if not minutes > 0:
        refuse(f"RTMAP_FPGA_SEED_MINUTES={text!r} is not a positive number of minutes")
    return minutes


def figure(value, width: int, decimals: int = 0) -> str:
    """``value`` right-aligned in ``width`` columns, or "-" where there is none."""
    return f"{value:{width}.{decimals}f}" if value is not None else f"{'-':>{width}}"


def tool_failure(error: subprocess.CalledProcessError, where: Path) -> str:
    """One line for a tool (Yosys, nextpnr) that failed or was killed."""
    tool = Path(str(error.cmd[0])).name
    how = (f"was killed by {signal.Signals(-error.returncode).name}" if error.returncode < 0
           else f"failed with status {error.returncode}")
    return f"{tool} {how}; its log is under {where}"


def main() -> None:
    machines, placement_seeds, minutes = sizes(), seeds(), seed_minutes()
    print(f"ECP5-85F (CABGA381), target 100 MHz, nextpnr {' '.join(NEXTPNR_ECP5_TIMING)}")
    print(f"{'machine':>12} {'LUT4':>7} {'FF':>7} {'LUTRAM':>7} {'BRAM':>5} {'seed':>5} "
          f"{'Fmax MHz':>9} {'late':>5} {'place s':>8}  critical path")
    results = []
    for params in machines:
        name = f"{params.rows}x{params.tracks}x{params.domains}"
        try:
            result = synthesize(params, BUILD / name, seeds=placement_seeds,
                                seed_minutes=minutes)
        except subprocess.CalledProcessError as error:
            print(f"bench_fpga: {tool_failure(error, BUILD / name)}", file=sys.stderr)
            sys.exit(1)
        results.append(result)
        for placement in result["placements"]:
            path = " -> ".join(placement["critical_path"])
            if placement["timed_out"]:
                path = f"stopped after {minutes:g} min"
            print(f"{name:>12} {figure(result['lut4'], 7)} {figure(result['ff'], 7)} "
                  f"{figure(result['ram_distributed'], 7)} {figure(result['ram_block'], 5)} "
                  f"{placement['seed']:5d} {figure(placement['fmax_mhz'], 9, 1)} "
                  f"{figure(placement['late_endpoints'], 5)} "
                  f"{placement['place_seconds']:8.0f}  {path}")
        fmax = [placement["fmax_mhz"] for placement in result["placements"]
                if not placement["timed_out"]]
        if len(result["placements"]) > 1 and fmax:
            stopped = len(result["placements"]) - len(fmax)
            print(f"{name:>12} over {len(fmax)} seeds: median {statistics.median(fmax):.1f} "
                  f"MHz, {min(fmax):.1f} to {max(fmax):.1f}; "
                  f"{sum(f >= result['target_mhz'] for f in fmax)} met the target"
                  + (f"; {stopped} stopped" if stopped else ""))
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "fpga.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
