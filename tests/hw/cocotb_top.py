"""cocotb bench for the whole processor (module ``rtmap_top``): the controller running programs
that the bench loads through the ``prog`` stream, checked against hand-computed counters and
hw_models.run_machine.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb_common import bench_params, bench_rng, clock_and_reset
from hw_models import (
    COUNTERS,
    ArrayModel,
    add_sub_counters,
    add_sub_program,
    enc,
    error_cases,
    random_program,
    run_machine,
)

from rtmap.hw.controller import RUN_OVERHEAD as LATENCY
from rtmap.isa import ErrorCode

IDLE_INPUTS = {"start": 0, "prog__valid": 0, "prog__payload": 0, "data_in__valid": 0,
               "data_in__payload": 0, "data_out__ready": 0}


async def load_program(dut, words, pc_bits):
    for addr, word in enumerate(words):
        await FallingEdge(dut.clk)
        dut.prog__payload.value = addr | word << pc_bits
        dut.prog__valid.value = 1
        await ReadOnly()
        assert int(dut.prog__ready.value)
    await FallingEdge(dut.clk)
    dut.prog__valid.value = 0


async def run(dut, inputs, rng=None, gap=0.0, max_ticks=100_000):
    """Pulse start and play the host until done or error, then take the words still queued
    (as tests/hw/test_blocks_amaranth.py does): the outputs, counters, error, words consumed,
    ticks after the start edge, and cycles in which a LOAD waited for data_in."""
    await FallingEdge(dut.clk)
    dut.start.value = 1
    await RisingEdge(dut.clk)
    pending, outputs = list(inputs), []
    ticks = stalls = 0
    while True:
        await FallingEdge(dut.clk)
        dut.start.value = 0
        give = bool(pending) and (rng is None or rng.random() >= gap)
        take = rng is None or rng.random() >= gap
        dut.data_in__valid.value = int(give)
        dut.data_in__payload.value = pending[0] if pending else 0
        dut.data_out__ready.value = int(take)
        await ReadOnly()
        if int(dut.data_out__valid.value) and take:
            outputs.append(int(dut.data_out__payload.value))
        if int(dut.done.value) or int(dut.error.value):
            break
        assert int(dut.busy.value)
        if int(dut.data_in__ready.value):
            if give:
                pending.pop(0)
            else:
                stalls += 1
        await RisingEdge(dut.clk)
        ticks += 1
        assert ticks < max_ticks, "no done or error"
    assert not int(dut.busy.value)
    assert not (int(dut.done.value) and int(dut.error.value))
    error = ErrorCode(int(dut.error_code.value)) if int(dut.error.value) else ErrorCode.NONE
    counters = {name: int(getattr(dut, name).value) for name in COUNTERS}
    # Every word of the run is queued by the time done shows: take what is left.
    while True:
        await FallingEdge(dut.clk)
        dut.data_in__valid.value = 0
        dut.data_out__ready.value = 1
        await ReadOnly()
        if not int(dut.data_out__valid.value):
            break
        outputs.append(int(dut.data_out__payload.value))
    await FallingEdge(dut.clk)
    dut.data_out__ready.value = 0
    return {
        "outputs": outputs,
        "counters": counters,
        "error": error,
        "consumed": len(inputs) - len(pending),
        "ticks": ticks,
        "stalls": stalls,
    }


@cocotb.test()
async def add_and_sub(dut):
    """Hand-assembled B += A and B -= A, counters by hand, done exactly `cycles` + LATENCY
    clocks after the start edge."""
    p = bench_params()
    rng, seed = bench_rng(dut)
    await clock_and_reset(dut, IDLE_INPUTS)
    if p.tracks < 2 or p.domains < 2:
        dut._log.info("add/sub needs two tracks and two domains; skipped at this size")
        return
    bits, a, b = min(6, p.domains - 1), 0, p.tracks - 1
    for subtract in (False, True):
        words = enc(p, *add_sub_program(p, a, b, bits, subtract))
        await load_program(dut, words, p.pc_bits)
        A = [int(x) for x in rng.integers(0, 1 << bits, p.rows)]
        B = [int(x) for x in rng.integers(0, 1 << bits, p.rows)]
        inputs = [((A[r] >> d) & 1) << a | ((B[r] >> d) & 1) << b
                  for d in range(bits) for r in range(p.rows)]
        got = await run(dut, inputs)
        where = f"seed {seed} {'sub' if subtract else 'add'}"
        assert got["error"] is ErrorCode.NONE, where
        assert got["counters"] == add_sub_counters(p, bits), where
        assert got["ticks"] == got["counters"]["cycles"] + LATENCY, where
        result = [0] * p.rows
        for d in range(bits):
            for r in range(p.rows):
                result[r] |= ((got["outputs"][d * p.rows + r] >> b) & 1) << d
        want = [((y - x) if subtract else (y + x)) % (1 << bits) for x, y in zip(A, B, strict=True)]
        assert result == want, where


@cocotb.test()
async def errors(dut):
    """Every error code, with its counters, sticky until the next start."""
    p = bench_params()
    await clock_and_reset(dut, IDLE_INPUTS)
    for name, (words, code, nonzero) in error_cases(p).items():
        if not words:  # the prog stream cannot make the length 0; test_blocks_amaranth does
            continue
        await load_program(dut, words, p.pc_bits)
        got = await run(dut, [])
        assert got["error"] is code, name
        assert got["counters"] == {c: nonzero.get(c, 0) for c in COUNTERS}, name
        assert got["ticks"] == got["counters"]["cycles"] + 1 + LATENCY, name
        for _ in range(3):
            await RisingEdge(dut.clk)
            await ReadOnly()
            assert int(dut.error.value) and not int(dut.done.value), name
            assert int(dut.error_code.value) == code.value, name


@cocotb.test()
async def random_programs(dut):
    """Random legal programs (and some with a fault) against the instruction model, with random
    gaps on the data streams; the array carries over from run to run."""
    p = bench_params()
    rng, seed = bench_rng(dut, salt=1)
    await clock_and_reset(dut, IDLE_INPUTS)
    array = ArrayModel(p.rows, p.tracks, p.domains)
    for i in range(6):
        words = random_program(rng, p, length=int(rng.integers(5, 30)), faults=i % 3 == 2)
        words = words[:p.program_depth]
        inputs = [int(x) for x in rng.integers(0, 1 << p.tracks, 300)]
        await load_program(dut, words, p.pc_bits)
        got = await run(dut, inputs, rng, gap=[0.0, 0.3][i % 2])
        expected = run_machine(words, p, inputs, array)
        where = f"seed {seed} program {i}"
        assert got["error"] == expected.error, where
        assert got["outputs"] == expected.outputs, where
        assert got["counters"] == expected.counters, where
        assert got["consumed"] == expected.consumed, where
        # With gaps, a READ may also wait on a full output queue, which the ports do not show.
        least = expected.counters["cycles"] + got["stalls"] + LATENCY
        least += 0 if expected.error is ErrorCode.NONE else 1
        assert got["ticks"] >= least if i % 2 else got["ticks"] == least, where
