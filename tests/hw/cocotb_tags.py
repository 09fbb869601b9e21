"""cocotb bench for TagLogic (module ``rtmap_tags``) against hw_models.TagModel: one random
operation issued a cycle; in its execute cycle, ISSUE_LATENCY edges later, the tags are checked,
and RESULT_LATENCY cycles later what was read off them."""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import TagModel, from_bits

from rtmap.hw.fanout import ISSUE_LATENCY
from rtmap.hw.tags import RESULT_LATENCY
from rtmap.isa import Combine


@cocotb.test()
async def random_updates(dut):
    rows = bench_params().rows
    rng, seed = bench_rng(dut)
    await clock_and_reset(dut, {"match": 0, "update": 0, "combine": 0, "clear": 0,
                                "shift": 0, "shift_down": 0, "shift_count": 0})
    model = TagModel(rows)
    in_flight = deque()  # issued operations not yet executing, oldest first
    seen = deque()  # (any, first, count) of each execute cycle's tags, oldest first
    for step in range(300 + ISSUE_LATENCY + RESULT_LATENCY):
        await FallingEdge(dut.clk)
        density = float(rng.choice([0.05, 0.5, 0.95]))
        op = {
            "where": f"seed {seed} step {step}",
            "match": rng.random(rows) < density,  # for its execute cycle
            "combine": Combine(int(rng.integers(0, 4))),
            "update": bool(rng.random() < 0.5), "clear": bool(rng.random() < 0.08),
            "shift": bool(rng.random() < 0.4), "down": int(rng.integers(0, 2)),
            "count": int(rng.integers(0, min(2 * rows + 2, 256))),  # past the last row too
        }
        if step >= 300:  # the last issued ones come out
            op.update(update=False, clear=False, shift=False)
        dut.shift.value, dut.shift_down.value = int(op["shift"]), op["down"]
        dut.shift_count.value, dut.combine.value = op["count"], op["combine"].value
        dut.update.value, dut.clear.value = int(op["update"]), int(op["clear"])
        in_flight.append(op)
        if len(in_flight) > ISSUE_LATENCY:  # the one issued ISSUE_LATENCY edges ago executes
            op = in_flight.popleft()
            dut.match.value = from_bits(op["match"])
            await ReadOnly()
            where = op["where"]
            tags = model.tags
            assert int(dut.tags.value) == from_bits(tags), where
            seen.append((int(tags.any()), model.first(), int(tags.sum())))
            if len(seen) > RESULT_LATENCY:
                any_, (valid, first), total = seen.popleft()
                assert int(dut.any_match.value) == any_, where
                assert int(dut.first_valid.value) == int(valid), where
                if valid:
                    assert int(dut.first_match.value) == first, where
                assert int(dut.count.value) == total, where
            if op["clear"]:
                model.clear()
            elif op["update"]:
                model.update(op["combine"], op["match"])
            elif op["shift"] and op["count"]:
                model.shift(op["count"], bool(op["down"]))
        await RisingEdge(dut.clk)
