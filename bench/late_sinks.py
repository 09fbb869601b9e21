"""Where a build's late paths end: the flip-flop inputs reached later than a threshold,
grouped by the RTL signal they belong to. Reads nextpnr's report (bench/synth.py asks for
``--detailed-timing-report``), so it shows every late endpoint, not only the critical path.

    python bench/late_sinks.py build/bench/fpga/256x32x16/seed1/report.json [--over NS] [--top N]

Prints one line per group: how many endpoints, the latest arrival (ns after the clock edge),
the sink port (DI/M data, CE enable, LSR reset) and the signal with its numbers as ``#``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

# What nextpnr and Yosys append to an RTL name when they pack it into cells.
PACKING_SUFFIX = re.compile(r"(_(TRELLIS|LUT4|CCU2|PFUMX|L6MUX|DP16KD|DPR16X4|SLICE)\w*|\$.*)$")


def signal_of(cell: str) -> str:
    """A cell's RTL signal with every number as ``#`` (bit, row group, replica index)."""
    return re.sub(r"\d+", "#", PACKING_SUFFIX.sub("", cell))


def arrival(delay) -> float:
    """An endpoint's latest arrival: nextpnr writes a number, or [min, max] in some versions."""
    return float(max(delay)) if isinstance(delay, list) else float(delay)


def late_sinks(report: dict, over_ns: float) -> list[tuple[str, str, int, float]]:
    """(signal, port, endpoints, latest arrival) of the endpoints later than ``over_ns``,
    latest first."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for net in report["detailed_net_timings"]:
        for end in net["endpoints"]:
            late = arrival(end["delay"])
            if late > over_ns:
                groups[signal_of(end["cell"]), end["port"]].append(late)
    rows = [(signal, port, len(times), max(times)) for (signal, port), times in groups.items()]
    return sorted(rows, key=lambda row: -row[3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="nextpnr's report.json")
    parser.add_argument("--over", type=float, default=None,
                        help="threshold in ns (default: the target clock period)")
    parser.add_argument("--top", type=int, default=40, help="groups to print (default 40)")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text())
    except (OSError, json.JSONDecodeError) as error:
        parser.exit(2, f"late_sinks: cannot read {args.report}: {error}\n")
    if "detailed_net_timings" not in report:
        parser.exit(2, f"late_sinks: {args.report} has no detailed_net_timings "
                       "(nextpnr was run without --detailed-timing-report)\n")
    over = args.over
    if over is None:
        target = min(clock["constraint"] for clock in report["fmax"].values())
        over = 1000.0 / target
    rows = late_sinks(report, over)
    print(f"{sum(row[2] for row in rows)} endpoints later than {over:.2f} ns "
          f"in {len(rows)} groups")
    print(f"{'endpoints':>9} {'latest ns':>9} {'port':>4}  signal")
    for signal, port, count, latest in rows[:args.top]:
        print(f"{count:9d} {latest:9.2f} {port:>4}  {signal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
