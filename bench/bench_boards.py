"""FPGA figures for issue #7: whole board builds (`rtmap fpga build`: the processor behind its
UART, PLL, LEDs) with the YoWASP tools, each board's resources and Fmax beside what the fit
model (hw/boards/fit.py) expected. Slow: minutes per build, far more for large ECP5 arrays,
so the builds come from RTMAP_BOARD_BUILDS, a comma-separated list of BOARD[:RxTxD][@MHZ]
(default: each board's default array at its constraints file's target). Reports go to
build/bench/boards/<board>_<size>/report.json. `python bench/bench_boards.py`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rtmap.errors import RtmapError
from rtmap.hw.boards import BOARDS, board_named
from rtmap.hw.boards.build import build
from rtmap.hw.boards.fit import board_array, estimate

BUILD = Path(__file__).resolve().parent.parent / "build" / "bench" / "boards"


def builds():
    text = os.environ.get("RTMAP_BOARD_BUILDS", ",".join(sorted(BOARDS)))
    for item in text.split(","):
        item, _, mhz = item.strip().partition("@")
        name, _, size = item.partition(":")
        board = board_named(name)
        sizes = dict(zip(("rows", "tracks", "domains"), (int(v) for v in size.split("x")),
                         strict=False)) if size else {}
        yield board, board_array(board, **sizes), float(mhz) if mhz else None


def main() -> None:
    print(f"{'board':>10} {'array':>10} {'target':>7} {'Fmax':>6} {'LUT':>13} {'FF':>13} "
          f"{'LUTRAM':>11} {'BRAM':>9} {'build s':>8}")
    results = []
    for board, params, mhz in builds():
        size = f"{params.rows}x{params.tracks}x{params.domains}"
        expected = estimate(board, params)
        out = BUILD / f"{board.name}_{size}"
        try:
            report = build(board, params, out, mhz)
        except RtmapError as exc:  # a missed target still leaves its report
            print(f"{board.name:>10} {size:>10}  {exc}", file=sys.stderr)
            if not (out / "report.json").exists():
                continue
            report = json.loads((out / "report.json").read_text())
        report["estimate"] = expected
        results.append(report)

        logic = "logic_cells" if "logic_cells" in report else "lut"  # iCE40: logic cells
        pair = {key: f"{report[key]} ({expected[key]})"  # placed (model's estimate)
                for key in (logic, "ff", "ram_distributed", "ram_block")}
        print(f"{board.name:>10} {size:>10} {report['target_mhz']:7.1f} "
              f"{report['fmax_mhz']:6.1f} {pair[logic]:>13} {pair['ff']:>13} "
              f"{pair['ram_distributed']:>11} {pair['ram_block']:>9} "
              f"{report['build_seconds']:8.0f}")
    print("resources: placed by nextpnr (fit model's estimate); LUT: logic cells on iCE40, "
          "whose flip-flop estimate is the same cells; Fmax in MHz")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "boards.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
