"""cocotb bench for CamArray (module ``rtmap_cam_array``) against hw_models.ArrayModel.

Every cycle one random operation is issued (several at once now and then, to check
precedence); in its execute cycle, ISSUE_LATENCY edges later, the settled match vector and
port are checked, and the row read RESULT_LATENCY cycles later; then the operation is applied
to the model.
"""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import ARRAY_IDLE, ArrayModel, apply_array_op, from_bits, random_word

from rtmap.hw.fanout import ISSUE_LATENCY
from rtmap.hw.tags import RESULT_LATENCY


@cocotb.test()
async def random_operations(dut):
    p = bench_params()
    rng, seed = bench_rng(dut)
    R, T, D = p.rows, p.tracks, p.domains
    W = T + 2
    await clock_and_reset(dut, ARRAY_IDLE)
    model = ArrayModel(R, T, D)
    in_flight = deque()  # issued operations not yet executing, oldest first
    reads = deque()  # the row each checked execute cycle read, oldest first

    async def issue(where=None, **inputs):
        """Between two edges: drive an operation (unnamed inputs 0) and the write_rows of the
        one executing; check that one (unless it came with no ``where``) and apply it to the
        model."""
        await FallingEdge(dut.clk)
        op = {**ARRAY_IDLE, **inputs, "where": where}
        for name in ARRAY_IDLE:
            if name != "write_rows":
                getattr(dut, name).value = int(op[name])
        dut.rst.value = int(op.get("reset", 0))
        in_flight.append(op)
        if len(in_flight) > ISSUE_LATENCY:
            executing = in_flight.popleft()
            dut.write_rows.value = executing["write_rows"]
            if executing["where"] is not None:
                await ReadOnly()
                where = executing["where"]
                assert int(dut.port.value) == model.port, where
                expected = 0 if executing["search_void"] else from_bits(
                    model.match(executing["search_key"], executing["search_mask"]))
                assert int(dut.match.value) == expected, where
                reads.append(model.read(executing["row"]))
                if len(reads) > RESULT_LATENCY:
                    assert int(dut.read_data.value) == reads.popleft(), where
            apply_array_op(model, executing)
        await RisingEdge(dut.clk)

    # The array is not reset: start from a known state by loading zeros everywhere (the
    # model starts as zeros), then writing zero flags into every row.
    for d in range(D):
        await issue(shift_en=1, shift_to=d)
        for r in range(R):
            await issue(load_en=1, row=r, load_mask=(1 << T) - 1)
    await issue(write_en=1, write_mask=3 << T, write_rows=(1 << R) - 1)
    for _ in range(ISSUE_LATENCY):
        await issue()
    model.shift_to(D - 1)  # where the loads left the port (the model did not follow them)

    for step in range(300):
        await issue(
            f"seed {seed} step {step}",
            search_key=int(rng.integers(0, 1 << W)),
            search_mask=0 if rng.random() < 0.2 else int(rng.integers(0, 1 << W)),
            search_void=int(rng.random() < 0.1), row=int(rng.integers(0, R)),
            write_en=int(rng.random() < 0.3), write_mask=int(rng.integers(0, 1 << W)),
            write_value=int(rng.integers(0, 1 << W)), write_rows=random_word(rng, R),
            load_en=int(rng.random() < 0.3), load_data=int(rng.integers(0, 1 << T)),
            load_mask=int(rng.integers(0, 1 << T)), shift_en=int(rng.random() < 0.3),
            shift_to=int(rng.integers(0, D)),
            reset=int(rng.random() < 0.03))  # rst cancels what is issued with it
    for step in range(ISSUE_LATENCY + RESULT_LATENCY):
        await issue(f"seed {seed} last reads {step}")
