"""cocotb bench for CamArray (module ``rtmap_cam_array``) against hw_models.ArrayModel.

Every cycle: random key, mask and row; the settled match vector, read data and port are
checked; then one random operation (several at once now and then, to check precedence) is
clocked in and applied to the model.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import ArrayModel, from_bits

INPUTS = ("search_key", "search_mask", "write_en", "write_rows", "write_mask", "write_value",
          "row", "load_en", "load_data", "shift_en", "shift_to")


@cocotb.test()
async def random_operations(dut):
    p = bench_params()
    rng, seed = bench_rng(dut)
    R, T, D = p.rows, p.tracks, p.domains
    W = T + 2
    await clock_and_reset(dut, dict.fromkeys(INPUTS, 0))
    model = ArrayModel(R, T, D)
    # The array is not reset: start from a known state by loading zeros everywhere.
    for d in range(D):
        await FallingEdge(dut.clk)
        dut.shift_en.value, dut.shift_to.value, dut.load_en.value = 1, d, 0
        dut.write_en.value = 0
        for r in range(R):
            await FallingEdge(dut.clk)
            dut.shift_en.value, dut.load_en.value, dut.row.value, dut.load_data.value = 0, 1, r, 0
    await FallingEdge(dut.clk)
    dut.load_en.value, dut.write_en.value = 0, 1
    dut.write_rows.value, dut.write_mask.value, dut.write_value.value = (1 << R) - 1, 3 << T, 0
    await FallingEdge(dut.clk)
    dut.write_en.value = 0
    model.shift_to(D - 1)

    for step in range(300):
        await FallingEdge(dut.clk)
        key, mask = int(rng.integers(0, 1 << W)), int(rng.integers(0, 1 << W))
        if rng.random() < 0.2:
            mask = 0
        row = int(rng.integers(0, R))
        ops = {name: bool(rng.random() < 0.3) for name in ("shift", "load", "write")}
        wrows = int(rng.integers(0, 1 << R))
        wmask, wvalue = int(rng.integers(0, 1 << W)), int(rng.integers(0, 1 << W))
        data, to = int(rng.integers(0, 1 << T)), int(rng.integers(0, D))
        load_mask = int(rng.integers(0, 1 << T))
        dut.search_key.value, dut.search_mask.value, dut.row.value = key, mask, row
        dut.write_en.value, dut.write_rows.value = int(ops["write"]), wrows
        dut.write_mask.value, dut.write_value.value = wmask, wvalue
        dut.load_en.value, dut.load_data.value = int(ops["load"]), data
        dut.load_mask.value = load_mask
        dut.shift_en.value, dut.shift_to.value = int(ops["shift"]), to
        await ReadOnly()
        where = f"seed {seed} step {step}"
        assert int(dut.port.value) == model.port, where
        assert int(dut.match.value) == from_bits(model.match(key, mask)), where
        assert int(dut.read_data.value) == model.read(row), where
        await RisingEdge(dut.clk)
        if ops["shift"]:
            model.shift_to(to)
        elif ops["load"]:
            model.load(row, data, load_mask)
        elif ops["write"]:
            model.write([(wrows >> r) & 1 for r in range(R)], wmask, wvalue)
