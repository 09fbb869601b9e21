"""FPGA figures for issue #3: the processor on the ECP5-85F (ULX3S), synthesised and placed
with YoWASP Yosys and nextpnr from PyPI. Slow (minutes per size; the default 256 x 32 x 16
takes much longer), so sizes come from RTMAP_FPGA_SIZES (e.g. "16x8x8,64x16x16"); results go
to build/bench/fpga/fpga.json. `python bench/bench_fpga.py`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import synthesize  # noqa: E402

from rtmap.hw.boards.build import NEXTPNR_ECP5_TIMING  # noqa: E402
from rtmap.params import MachineParams  # noqa: E402

BUILD = Path(__file__).resolve().parent.parent / "build" / "bench" / "fpga"


def sizes() -> list[MachineParams]:
    text = os.environ.get("RTMAP_FPGA_SIZES", "16x8x8,64x16x16")
    out = []
    for item in text.split(","):
        rows, tracks, domains = (int(v) for v in item.strip().split("x"))
        out.append(MachineParams(rows=rows, tracks=tracks, domains=domains,
                                 program_depth=1024))
    return out


def main() -> None:
    print(f"ECP5-85F (CABGA381), target 100 MHz, nextpnr {' '.join(NEXTPNR_ECP5_TIMING)}")
    print(f"{'machine':>12} {'LUT4':>7} {'FF':>7} {'LUTRAM':>7} {'BRAM':>5} {'Fmax MHz':>9} "
          f"{'build s':>8}  critical path")
    results = []
    for params in sizes():
        name = f"{params.rows}x{params.tracks}x{params.domains}"
        result = synthesize(params, BUILD / name)
        results.append(result)
        print(f"{name:>12} {result['lut4']:7d} {result['ff']:7d} {result['ram_distributed']:7d} "
              f"{result['ram_block']:5d} {result['fmax_mhz']:9.1f} {result['build_seconds']:8.0f}"
              f"  {' -> '.join(result['critical_path'])}")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "fpga.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
