"""What every cocotb bench here shares: parameters from the environment, clock and reset."""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from rtmap.params import MachineParams


def bench_params() -> MachineParams:
    """The machine the Verilog was generated for, passed by tests/hw/test_cocotb_blocks.py."""
    return MachineParams.from_dict(json.loads(os.environ["RTMAP_PARAMS"]))


def bench_rng(dut, salt: int = 0) -> tuple[np.random.Generator, int]:
    seed = int(os.environ.get("RTMAP_SEED", "1")) + salt
    dut._log.info("seed %d", seed)
    return np.random.default_rng(seed), seed


async def clock_and_reset(dut, inputs: dict[str, int]) -> None:
    """Start the clock, drive ``inputs``, and hold rst for two cycles."""
    Clock(dut.clk, 10, unit="ns").start()
    for name, value in inputs.items():
        getattr(dut, name).value = value
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
