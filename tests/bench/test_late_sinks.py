"""bench/late_sinks.py: grouping a nextpnr report's late endpoints by RTL signal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import late_sinks  # noqa: E402

SIGNALS = ["top.array.group{}.held", "top.tags.count_g{}", "top.controller.pc",
           "top.array.change_cols_replica{}"]
SUFFIXES = ["_TRELLIS_FF_Q", "_TRELLIS_FF_Q_{}", "_LUT4_Z_{}", ""]


def random_report(rng, nets: int = 200) -> tuple[dict, list[tuple[str, str, float]]]:
    """A report with random endpoints, and each endpoint's (signal, port, arrival)."""
    expected, report_nets = [], []
    for n in range(nets):
        endpoints = []
        for _ in range(int(rng.integers(1, 6))):
            which = int(rng.integers(0, len(SIGNALS)))
            index = int(rng.integers(0, 40))
            suffix = SUFFIXES[int(rng.integers(0, len(SUFFIXES)))].format(index)
            port = ["DI", "M", "CE", "LSR"][int(rng.integers(0, 4))]
            late = round(float(rng.uniform(0, 14)), 3)
            as_list = bool(rng.integers(0, 2))
            endpoints.append({"cell": SIGNALS[which].format(index) + suffix, "port": port,
                              "event": "posedge clk",
                              "delay": [late / 2, late] if as_list else late})
            expected.append((SIGNALS[which].replace("{}", "#"), port, late))
        report_nets.append({"net": f"n{n}", "driver": "d", "port": "Q", "event": "posedge clk",
                            "endpoints": endpoints})
    report = {"fmax": {"clk": {"achieved": 80.0, "constraint": 100.0}},
              "detailed_net_timings": report_nets}
    return report, expected


@pytest.mark.parametrize("seed", range(5))
def test_groups_match_an_independent_count(seed):
    rng = np.random.default_rng(seed)
    report, expected = random_report(rng)
    over = float(rng.uniform(4, 12))
    counts: dict = {}
    for signal, port, late in expected:
        if late > over:
            count, latest = counts.get((signal, port), (0, 0.0))
            counts[signal, port] = (count + 1, max(latest, late))
    got = late_sinks.late_sinks(report, over)
    assert {(s, p): (c, t) for s, p, c, t in got} == counts, f"seed {seed}"
    assert [t for *_, t in got] == sorted((t for _, t in counts.values()), reverse=True)


def test_prints_groups_over_the_target_period(tmp_path, capsys):
    report, expected = random_report(np.random.default_rng(7))
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    assert late_sinks.main([str(path), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    late = sum(1 for *_, t in expected if t > 10.0)  # 100 MHz: 10 ns
    assert lines[0].startswith(f"{late} endpoints later than 10.00 ns")
    assert len(lines) == 2 + 3


def test_clear_errors(tmp_path, capsys):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"fmax": {}}))
    with pytest.raises(SystemExit, match="2"):
        late_sinks.main([str(path)])
    assert capsys.readouterr().err == (f"late_sinks: {path} has no detailed_net_timings "
                                       "(nextpnr was run without --detailed-timing-report)\n")
    with pytest.raises(SystemExit, match="2"):
        late_sinks.main([str(tmp_path / "missing.json")])
    assert capsys.readouterr().err.startswith(f"late_sinks: cannot read {tmp_path}/missing.json")
