"""cocotb bench for TagLogic (module ``rtmap_tags``) against hw_models.TagModel."""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import TagModel, from_bits

from rtmap.isa import Combine


@cocotb.test()
async def random_updates(dut):
    rows = bench_params().rows
    rng, seed = bench_rng(dut)
    await clock_and_reset(dut, {"match": 0, "update": 0, "combine": 0, "clear": 0,
                                "shift": 0, "shift_down": 0, "shift_count": 0})
    model = TagModel(rows)
    for step in range(300):
        await FallingEdge(dut.clk)
        density = float(rng.choice([0.05, 0.5, 0.95]))
        match = rng.random(rows) < density
        combine = Combine(int(rng.integers(0, 4)))
        update, clear = bool(rng.random() < 0.5), bool(rng.random() < 0.08)
        shift, down = bool(rng.random() < 0.4), int(rng.integers(0, 2))
        count = int(rng.integers(0, min(2 * rows + 2, 256)))  # strides past the last row too
        dut.shift.value, dut.shift_down.value, dut.shift_count.value = int(shift), down, count
        dut.match.value = from_bits(match)
        dut.combine.value = combine.value
        dut.update.value, dut.clear.value = int(update), int(clear)
        await ReadOnly()
        where = f"seed {seed} step {step}"
        tags = model.tags
        assert int(dut.tags.value) == from_bits(tags), where
        assert int(dut.any_match.value) == int(tags.any()), where
        valid, first = model.first()
        assert int(dut.first_valid.value) == int(valid), where
        if valid:
            assert int(dut.first_match.value) == first, where
        assert int(dut.count.value) == int(tags.sum()), where
        await RisingEdge(dut.clk)
        if clear:
            model.clear()
        elif update:
            model.update(combine, match)
        elif shift and count:
            model.shift(count, bool(down))
