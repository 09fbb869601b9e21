"""cocotb bench for CamArray (module ``rtmap_cam_array``) against hw_models.ArrayModel.

Every cycle one random operation is issued (several at once now and then, to check
precedence); in the execute cycle that follows, the settled match vector and port are checked,
and the row read RESULT_LATENCY cycles later; then the operation is applied to the model.
"""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import ArrayModel, from_bits

from rtmap.hw.tags import RESULT_LATENCY

INPUTS = ("search_key", "search_mask", "search_void", "write_en", "write_rows", "write_mask",
          "write_value", "row", "load_en", "load_data", "load_mask", "shift_en", "shift_to")


@cocotb.test()
async def random_operations(dut):
    p = bench_params()
    rng, seed = bench_rng(dut)
    R, T, D = p.rows, p.tracks, p.domains
    W = T + 2
    await clock_and_reset(dut, dict.fromkeys(INPUTS, 0))
    model = ArrayModel(R, T, D)

    async def issue(**inputs):
        await FallingEdge(dut.clk)
        for name in INPUTS:
            if name != "write_rows":
                getattr(dut, name).value = int(inputs.get(name, 0))
        await RisingEdge(dut.clk)

    # The array is not reset: start from a known state by loading zeros everywhere.
    for d in range(D):
        await issue(shift_en=1, shift_to=d)
        for r in range(R):
            await issue(load_en=1, row=r, load_mask=(1 << T) - 1)
    await issue(write_en=1, write_mask=3 << T)
    await FallingEdge(dut.clk)
    dut.write_rows.value = (1 << R) - 1  # the write's execute cycle
    model.shift_to(D - 1)

    reads = deque()  # the row each execute cycle read, oldest first
    executing = None  # the operation issued at the last edge
    for step in range(301):
        await FallingEdge(dut.clk)
        issued = None
        if step < 300:
            key, mask = int(rng.integers(0, 1 << W)), int(rng.integers(0, 1 << W))
            ops = {name: bool(rng.random() < 0.3) for name in ("shift", "load", "write")}
            issued = {
                "search_key": key, "search_mask": 0 if rng.random() < 0.2 else mask,
                "search_void": int(rng.random() < 0.1), "row": int(rng.integers(0, R)),
                "write_en": int(ops["write"]), "write_mask": int(rng.integers(0, 1 << W)),
                "write_value": int(rng.integers(0, 1 << W)), "load_en": int(ops["load"]),
                "load_data": int(rng.integers(0, 1 << T)),
                "load_mask": int(rng.integers(0, 1 << T)), "shift_en": int(ops["shift"]),
                "shift_to": int(rng.integers(0, D)), "write_rows": int(rng.integers(0, 1 << R)),
            }
        for name in INPUTS:
            if name != "write_rows":
                getattr(dut, name).value = issued[name] if issued else 0
        if executing:
            dut.write_rows.value = executing["write_rows"]
            await ReadOnly()
            op = executing
            where = f"seed {seed} step {step - 1}"
            assert int(dut.port.value) == model.port, where
            expected = 0 if op["search_void"] else from_bits(
                model.match(op["search_key"], op["search_mask"]))
            assert int(dut.match.value) == expected, where
            reads.append(model.read(op["row"]))
            if len(reads) > RESULT_LATENCY:
                assert int(dut.read_data.value) == reads.popleft(), where
            if op["shift_en"]:
                model.shift_to(op["shift_to"])
            elif op["load_en"]:
                model.load(op["row"], op["load_data"], op["load_mask"])
            elif op["write_en"]:
                model.write([(op["write_rows"] >> r) & 1 for r in range(R)],
                            op["write_mask"], op["write_value"])
        executing = issued
        await RisingEdge(dut.clk)
