"""cocotb bench for TagLogic (module ``rtmap_tags``) against hw_models.TagModel: one random
operation issued a cycle (a shift followed by the idle cycles it takes); in its execute cycle,
ISSUE_LATENCY edges later, the tags are checked, and RESULT_LATENCY cycles later what was read
off them."""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import TAG_CONTROLS, TagModel, apply_tag_op, from_bits, random_tag_ops

from rtmap.hw.fanout import ISSUE_LATENCY
from rtmap.hw.tags import RESULT_LATENCY


@cocotb.test()
async def random_updates(dut):
    rows = bench_params().rows
    rng, seed = bench_rng(dut)
    await clock_and_reset(dut, {"match": 0, "update": 0, "combine": 0, "clear": 0,
                                "shift": 0, "shift_down": 0, "shift_count": 0})
    model = TagModel(rows)
    in_flight = deque()  # issued operations not yet executing, oldest first
    seen = deque()  # (any, first, count) of each execute cycle's tags, oldest first
    for issued in random_tag_ops(rng, rows, 300, ISSUE_LATENCY + RESULT_LATENCY,
                                 reset_rate=0.03):
        await FallingEdge(dut.clk)
        dut.rst.value = int(issued["reset"])
        for name in TAG_CONTROLS:
            value = issued[name]
            getattr(dut, name).value = int(getattr(value, "value", value))  # (Combine: .value)
        in_flight.append(issued)
        if len(in_flight) > ISSUE_LATENCY:  # the one issued ISSUE_LATENCY edges ago executes
            executing = in_flight.popleft()
            dut.match.value = from_bits(executing["match"])
            await ReadOnly()
            where = f"seed {seed} {executing['where']}"
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
            apply_tag_op(model, executing)
        await RisingEdge(dut.clk)
