"""Fast tier: every block under Amaranth's simulator, randomized, against tests/hw/models.py.

Seeds are fixed per case and printed in assertion messages; RTMAP_WAVES=1 writes a VCD per
case under build/tests/waves.
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Signal
from amaranth.sim import Simulator
from hw_models import (
    ARRAY_IDLE,
    COUNTERS,
    TAG_CONTROLS,
    ArrayModel,
    TagModel,
    add_sub_counters,
    add_sub_program,
    apply_array_op,
    apply_tag_op,
    arith_cycles,
    enc,
    error_cases,
    every_tag_shift,
    from_bits,
    op,
    random_arith,
    random_program,
    random_tag_ops,
    random_word,
    run_machine,
    search,
)

from rtmap.hw.arith import ArithSequencer
from rtmap.hw.cam_array import STORAGE_KINDS, CamArray
from rtmap.hw.controller import FILL_CYCLES, OUTPUT_STAGES, Controller
from rtmap.hw.controller import RUN_OVERHEAD as LATENCY
from rtmap.hw.fanout import ISSUE_LATENCY
from rtmap.hw.tags import (
    RESULT_LATENCY,
    TagLogic,
    barrel_shift,
    offset_bits,
    popcount,
    shift_digits,
    shift_stage_digits,
)
from rtmap.hw.top import RtmapTop
from rtmap.isa import ErrorCode, Opcode, field_offsets, illegal_reason, tshift_cycles
from rtmap.params import MachineParams

ROOT = Path(__file__).resolve().parents[2]

# Edge sizes: one row, non-power-of-two rows, one track, one or two domains.
SIZES = [
    MachineParams(rows=1, tracks=1, domains=1, program_depth=200),
    MachineParams(rows=5, tracks=3, domains=4, program_depth=512),
    MachineParams(rows=4, tracks=1, domains=2, shift_latency=3, program_depth=300),
    MachineParams(rows=3, tracks=6, domains=5, shift_latency=2, program_depth=1000),
]


def size_id(p: MachineParams) -> str:
    return f"r{p.rows}t{p.tracks}d{p.domains}l{p.shift_latency}"


def with_reset(dut) -> tuple[Module, Signal]:
    """``dut`` in a module whose sync domain has a reset the bench drives (``rst``)."""
    top = Module()
    top.domains.sync = domain = ClockDomain("sync")
    top.submodules.dut = dut
    return top, domain.rst


def simulate(dut, bench, name: str) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    waves = os.environ.get("RTMAP_WAVES")
    ctx = nullcontext()
    if waves:
        path = ROOT / "build" / "tests" / "waves"
        path.mkdir(parents=True, exist_ok=True)
        ctx = sim.write_vcd(str(path / f"{name}.vcd"))
    with ctx:
        sim.run()


# -- CamArray ----------------------------------------------------------------------------------

@pytest.mark.parametrize("storage", STORAGE_KINDS)
@pytest.mark.parametrize("params", SIZES + [MachineParams(rows=37, tracks=2, domains=3),
                                             MachineParams(rows=150, tracks=30, domains=3)],
                         ids=size_id)  # the last: 10 groups of 16 rows in 3 regions
def test_cam_array_random(params, storage):
    """Random operations, issued one a cycle (now and then several at once, to pin down the
    precedence; now and then with rst, which cancels them); in each execute cycle
    (ISSUE_LATENCY edges after the issue) the match vector and port are checked, and the row
    read RESULT_LATENCY cycles later."""
    seed = params.rows * 1000 + params.tracks * 10 + params.domains
    rng = np.random.default_rng(seed)
    R, T, D = params.rows, params.tracks, params.domains
    W = T + 2
    dut = CamArray(params, storage)
    top, rst = with_reset(dut)
    model = ArrayModel(R, T, D)
    in_flight = deque()  # issued operations not yet executing, oldest first
    reads = deque()  # the row each execute cycle read, oldest first

    async def issue(ctx, where, **inputs):
        """Issue an operation (unnamed inputs 0) and clock it in; check the operation whose
        execute cycle follows, and apply it to the model."""
        op = {**ARRAY_IDLE, **inputs, "where": where}
        for name, value in op.items():
            if name not in ("write_rows", "where", "reset"):
                ctx.set(getattr(dut, name), value)
        ctx.set(rst, op.get("reset", 0))
        await ctx.tick()
        in_flight.append(op)
        if len(in_flight) < ISSUE_LATENCY:
            return
        op = in_flight.popleft()
        ctx.set(dut.write_rows, op["write_rows"])
        assert ctx.get(dut.port) == model.port, op["where"]
        expected = 0 if op["search_void"] else from_bits(
            model.match(op["search_key"], op["search_mask"]))
        assert ctx.get(dut.match) == expected, op["where"]
        reads.append(model.read(op["row"]))
        if len(reads) > RESULT_LATENCY:
            assert ctx.get(dut.read_data) == reads.popleft(), op["where"]
        apply_array_op(model, op)

    async def bench(ctx):
        for step in range(400):
            mask = 0 if rng.random() < 0.2 else int(rng.integers(0, 1 << W))
            await issue(
                ctx, f"seed {seed} step {step}",
                search_key=int(rng.integers(0, 1 << W)), search_mask=mask,
                search_void=int(rng.random() < 0.1), row=int(rng.integers(0, R)),
                write_en=int(rng.random() < 0.3), write_rows=random_word(rng, R),
                write_mask=int(rng.integers(0, 1 << W)),
                write_value=int(rng.integers(0, 1 << W)),
                load_en=int(rng.random() < 0.3), load_data=int(rng.integers(0, 1 << T)),
                load_mask=int(rng.integers(0, 1 << T)),
                shift_en=int(rng.random() < 0.3), shift_to=int(rng.integers(0, D)),
                reset=int(rng.random() < 0.03))
        # Read every domain back through the ports.
        for d in range(D):
            await issue(ctx, f"seed {seed} shift to {d}", shift_en=1, shift_to=d)
            for r in range(R):
                await issue(ctx, f"seed {seed} domain {d} row {r}", row=r)
        for _ in range(ISSUE_LATENCY - 1 + RESULT_LATENCY):
            await issue(ctx, f"seed {seed} last reads")

    simulate(top, bench, f"cam_array_{size_id(params)}_{storage}")


def test_cam_array_rejects_bad_params():
    with pytest.raises(TypeError, match="MachineParams"):
        CamArray({"rows": 4})
    with pytest.raises(ValueError, match="storage must be one of distributed, block, not 'sram'"):
        CamArray(SIZES[0], "sram")


# -- TagLogic ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rows", [1, 2, 5, 8, 13, 16, 17, 40, 150])
def test_tag_logic_random(rows):
    """Random updates, clears and shifts (each followed by the idle cycles it takes), issued
    one a cycle, now and then with rst (a clear, cancelling a shift in flight); in each
    execute cycle (ISSUE_LATENCY edges after the issue) the tags are checked, and
    RESULT_LATENCY cycles later what was read off them."""
    rng = np.random.default_rng(rows)
    ops = random_tag_ops(rng, rows, 300, ISSUE_LATENCY - 1 + RESULT_LATENCY, reset_rate=0.03)
    check_tag_ops(rows, ops, f"seed {rows}", f"tags_{rows}")


@pytest.mark.parametrize("rows", [9, 33, 70, 150])
def test_tag_logic_every_shift(rows):
    """Every shift count from 0 to R + 1, up and down, each of fresh random tags: the
    shifter's stages (2 at 9 rows, 3 from 33) and the rows each stage builds (only those
    some count can make nonzero) against the model."""
    rng = np.random.default_rng(rows)
    ops = every_tag_shift(rng, rows, ISSUE_LATENCY - 1 + RESULT_LATENCY)
    check_tag_ops(rows, ops, f"seed {rows}", f"tag_shifts_{rows}")


def check_tag_ops(rows: int, ops, seed: str, waves: str) -> None:
    """Run ``ops`` (as :func:`random_tag_ops` makes them) on a TagLogic, checking the tags in
    each execute cycle, and RESULT_LATENCY cycles later what was read off them, against
    TagModel."""
    dut = TagLogic(rows)
    top, rst = with_reset(dut)
    model = TagModel(rows)
    in_flight = deque()  # issued operations not yet executing, oldest first
    seen = deque()  # (any, first, count) of each execute cycle's tags, oldest first

    async def bench(ctx):
        for issued in ops:
            for name in TAG_CONTROLS:
                ctx.set(getattr(dut, name), issued[name])
            ctx.set(rst, issued["reset"])
            await ctx.tick()
            in_flight.append(issued)
            if len(in_flight) < ISSUE_LATENCY:
                continue
            executing = in_flight.popleft()
            where = f"{seed} {executing['where']}"
            ctx.set(dut.match, from_bits(executing["match"]))  # the execute cycle's
            tags = model.tags
            assert ctx.get(dut.tags) == from_bits(tags), where
            seen.append((int(tags.any()), model.first(), int(tags.sum())))
            if len(seen) > RESULT_LATENCY:
                any_, (valid, first), total = seen.popleft()
                assert ctx.get(dut.any_match) == any_, where
                assert ctx.get(dut.first_valid) == int(valid), where
                if valid:
                    assert ctx.get(dut.first_match) == first, where
                assert ctx.get(dut.count) == total, where
            apply_tag_op(model, executing)

    simulate(top, bench, waves)


@pytest.mark.parametrize("rows", [1, 4, 5, 32, 33, 256, 300, 1100])
def test_shift_digits_cover_the_offset_in_tshift_cycles(rows):
    """The shifter's digits: contiguous from bit 0 to the offset's top, one per TSHIFT cycle,
    the lowest (the stage into the tags) of 2 bits when there are several, none over 4."""
    width = offset_bits(rows)
    digits = shift_digits(width)
    assert len(digits) == tshift_cycles(rows)
    assert [d.start for d in digits] == [0, *(d.stop for d in digits[:-1])]
    assert digits[-1].stop == width
    assert all(1 <= d.stop - d.start <= 4 for d in digits)
    if len(digits) > 1:
        assert digits[0].stop == 2


@pytest.mark.parametrize("rows", [6, 40, 300])
def test_barrel_shift_every_offset(rows):
    """The shifter alone, a new input every cycle: for every offset s in 1..2R-1 and random
    bits, the output ``tshift_cycles(R) - 1`` edges later is bit r + s of R zeros, the bits,
    R zeros (each stage's digit delayed to its cycle). 300 rows has four stages, whose
    counts (past 255) TagLogic's tests cannot issue."""
    rng = np.random.default_rng(rows)
    stages = tshift_cycles(rows)
    digits = shift_digits(offset_bits(rows))
    top = Module()
    bits, offset = Signal(rows), Signal(offset_bits(rows))
    late = {digit: offset[digits[digit]] for digit in range(stages)}
    for k, digit in enumerate(shift_stage_digits(stages)):
        for cycle in range(k):
            copy = Signal(len(late[digit]), name=f"d{digit}_late{cycle + 1}")
            top.d.sync += copy.eq(late[digit])
            late[digit] = copy
    shifted = barrel_shift(top, bits, stages, lambda digit, row: late[digit])
    top.domains.sync = ClockDomain()
    offsets = list(range(1, 2 * rows))
    inputs = [(s, rng.random(rows) < 0.5) for s in offsets]

    async def bench(ctx):
        sent = deque()
        for s, value in [*inputs, *[(1, np.zeros(rows, bool))] * (stages - 1)]:
            ctx.set(offset, s)
            ctx.set(bits, from_bits(value))
            sent.append((s, value))
            if len(sent) == stages:
                s_then, value_then = sent.popleft()
                padded = np.concatenate([np.zeros(rows, bool), value_then,
                                         np.zeros(rows + 1, bool)])
                assert ctx.get(shifted) == from_bits(padded[s_then:s_then + rows]), \
                    f"seed {rows} offset {s_then}"
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [1, 3, 4, 5, 8, 16, 23])
def test_popcount(width):
    """The group counts' popcount (counts of four bits, then adders) against numpy's count
    of set bits, for every input up to 10 bits wide, else 1,000 random ones."""
    rng = np.random.default_rng(width)
    values = (range(1 << width) if width <= 10
              else (int(v) for v in rng.integers(0, 1 << width, 1000)))
    top = Module()
    bits, count = Signal(width), Signal(8)
    top.d.comb += count.eq(popcount(bits))

    async def bench(ctx):
        for value in values:
            ctx.set(bits, value)
            expected = int(np.unpackbits(np.array([value], dtype=">u4").view(np.uint8)).sum())
            assert ctx.get(count) == expected, value

    sim = Simulator(top)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_tag_logic_rejects_bad_rows(bad):
    with pytest.raises(ValueError, match="rows"):
        TagLogic(bad)


# -- the processor -------------------------------------------------------------------------------

async def load_program(ctx, dut, words, params):
    for addr, word in enumerate(words):
        ctx.set(dut.prog.payload.as_value(), addr | word << params.pc_bits)
        ctx.set(dut.prog.valid, 1)
        assert ctx.get(dut.prog.ready)
        await ctx.tick()
    ctx.set(dut.prog.valid, 0)


async def run_once(ctx, dut, inputs, rng=None, gap=0.0, max_ticks=200_000):
    """start, then play the host until done or error and take the words still queued; returns
    what happened, including the ticks from the start edge to the edge that raised done/error
    and the cycles in which a LOAD waited for data_in. (A READ waits only when the output
    queue is full, which the ports do not show; with no gaps it never is.)"""
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    assert ctx.get(dut.busy) and not ctx.get(dut.done) and not ctx.get(dut.error)
    pending, outputs = list(inputs), []
    ticks = stalls = 0
    while not (ctx.get(dut.done) or ctx.get(dut.error)):
        assert ctx.get(dut.busy)
        give = bool(pending) and (rng is None or rng.random() >= gap)
        take = rng is None or rng.random() >= gap
        ctx.set(dut.data_in.valid, give)
        ctx.set(dut.data_in.payload, pending[0] if pending else 0)
        ctx.set(dut.data_out.ready, take)
        if ctx.get(dut.data_in.ready):
            if give:
                pending.pop(0)
            else:
                stalls += 1
        if ctx.get(dut.data_out.valid) and take:
            outputs.append(ctx.get(dut.data_out.payload))
        await ctx.tick()
        ticks += 1
        assert ticks < max_ticks, "no done or error"
    ctx.set(dut.data_in.valid, 0)
    assert not ctx.get(dut.busy)
    assert not (ctx.get(dut.done) and ctx.get(dut.error))
    result = {
        "counters": {name: ctx.get(getattr(dut, name)) for name in COUNTERS},
        "error": ErrorCode(ctx.get(dut.error_code)) if ctx.get(dut.error) else ErrorCode.NONE,
        "consumed": len(inputs) - len(pending),
        "ticks": ticks,
        "stalls": stalls,
    }
    # Every word of the run is queued by the time done shows: take what is left.
    ctx.set(dut.data_out.ready, 1)
    while ctx.get(dut.data_out.valid):
        outputs.append(ctx.get(dut.data_out.payload))
        await ctx.tick()
    ctx.set(dut.data_out.ready, 0)
    result["outputs"] = outputs
    return result


def check_against_model(got, expected, where, gap):
    assert got["error"] == expected.error, where
    assert got["outputs"] == expected.outputs, where
    assert got["counters"] == expected.counters, where
    assert got["consumed"] == expected.consumed, where
    # Cycle-exact: every counted cycle is a clock cycle; a fault takes one more; add the fixed
    # LATENCY. With gaps, READs may also wait on a full queue.
    least = expected.counters["cycles"] + got["stalls"] + LATENCY
    least += 0 if expected.error is ErrorCode.NONE else 1
    if gap:
        assert got["ticks"] >= least, where
    else:
        assert got["ticks"] == least, where


@pytest.mark.parametrize("storage", STORAGE_KINDS)
@pytest.mark.parametrize("params", SIZES, ids=size_id)
def test_top_random_programs(params, storage):
    seed = 7 + params.rows * 100 + params.domains
    rng = np.random.default_rng(seed)
    programs = [random_program(rng, params, length=int(rng.integers(5, 40)), faults=i % 3 == 2)
                for i in range(9)]
    inputs = [[int(x) for x in rng.integers(0, 1 << params.tracks, 400)] for _ in programs]
    assert max(len(words) for words in programs) <= params.program_depth
    dut = RtmapTop(params, storage=storage)
    model_array = ArrayModel(params.rows, params.tracks, params.domains)

    async def bench(ctx):
        for i, words in enumerate(programs):
            await load_program(ctx, dut, words, params)
            gap = [0.0, 0.3][i % 2]
            got = await run_once(ctx, dut, inputs[i], rng, gap)
            # The array keeps its contents from run to run, in the model as in the hardware.
            expected = run_machine(words, params, inputs[i], model_array)
            check_against_model(got, expected, f"seed {seed} program {i}", gap)

    simulate(dut, bench, f"top_{size_id(params)}_{storage}")


@pytest.mark.parametrize("gap", [0.8, 0.95])
def test_top_slow_host_fills_the_output_queue(gap):
    """Back-to-back READs to a host that rarely takes a word: the queue fills, READs wait,
    and every word still arrives, in order, as the simulator has them."""
    params = MachineParams(rows=8, tracks=6, domains=4, program_depth=64)
    rng = np.random.default_rng(int(gap * 100))
    loads = [op(Opcode.LOAD, advance=True) for _ in range(params.rows)]
    reads = [op(Opcode.READ, advance=True) for _ in range(params.rows)]
    words = enc(params, op(Opcode.SETROW, row=0), *loads, op(Opcode.SETROW, row=0), *reads,
                op(Opcode.SETROW, row=0), *reads, op(Opcode.SETROW, row=0), *reads[:5],
                op(Opcode.HALT))
    inputs = [int(x) for x in rng.integers(0, 1 << params.tracks, params.rows)]
    dut = RtmapTop(params)

    async def bench(ctx):
        await load_program(ctx, dut, words, params)
        got = await run_once(ctx, dut, inputs, rng, gap)
        expected = run_machine(words, params, inputs, ArrayModel(params.rows, params.tracks,
                                                                 params.domains))
        assert len(expected.outputs) == 2 * params.rows + 5
        check_against_model(got, expected, f"gap {gap}", gap)

    simulate(dut, bench, f"top_slow_host_{gap}")


@pytest.mark.parametrize("subtract", [False, True], ids=["add", "sub"])
def test_top_add_sub_from_init(subtract):
    """A program given at generation time runs after reset with just a start pulse."""
    params = MachineParams(rows=5, tracks=3, domains=7, shift_latency=2, program_depth=128)
    bits, a, b = 6, 0, 2
    code = add_sub_program(params, a, b, bits, subtract)
    words = enc(params, *code)
    rng = np.random.default_rng(11)
    A = rng.integers(0, 1 << bits, params.rows)
    B = rng.integers(0, 1 << bits, params.rows)
    inputs = [int(((A[r] >> d) & 1) << a | ((B[r] >> d) & 1) << b)
              for d in range(bits) for r in range(params.rows)]
    dut = RtmapTop(params, program=words)

    async def bench(ctx):
        assert not ctx.get(dut.busy)
        got = await run_once(ctx, dut, inputs)
        assert got["error"] is ErrorCode.NONE
        assert got["counters"] == add_sub_counters(params, bits)
        assert got["ticks"] == got["counters"]["cycles"] + LATENCY
        result = [0] * params.rows
        for d in range(bits):
            for r in range(params.rows):
                result[r] |= ((got["outputs"][d * params.rows + r] >> b) & 1) << d
        want = (B - A if subtract else B + A) % (1 << bits)
        assert result == [int(x) for x in want]
        # And the same again: a second start reruns it (counters cleared, done cleared).
        again = await run_once(ctx, dut, inputs)
        assert again["counters"] == got["counters"] and again["outputs"] == got["outputs"]

    simulate(dut, bench, f"add_sub_{subtract}")


P_ERR = MachineParams(rows=5, tracks=3, domains=4, program_depth=64)


@pytest.mark.parametrize("case", sorted(error_cases(P_ERR)))
def test_top_errors(case):
    words, code, nonzero = error_cases(P_ERR)[case]
    dut = RtmapTop(P_ERR, program=words)

    async def bench(ctx):
        for _ in range(2):  # sticky until the next start, then the same again
            got = await run_once(ctx, dut, [])
            assert got["error"] is code
            assert got["counters"] == {name: nonzero.get(name, 0) for name in COUNTERS}
            assert got["ticks"] == got["counters"]["cycles"] + 1 + LATENCY
            for _ in range(3):
                await ctx.tick()
                assert ctx.get(dut.error) and not ctx.get(dut.done) and not ctx.get(dut.busy)
                assert ctx.get(dut.error_code) == code

    simulate(dut, bench, f"error_{case}")


def test_controller_decode():
    """Legality, the slots' key and mask, contradictory slots, and a LOAD's tracks, on random
    words."""
    params = MachineParams(rows=3, tracks=5, domains=4, program_depth=4)  # 7 columns of 8
    rng = np.random.default_rng(3)
    dut = Controller(params)
    width = dut.prog.payload.shape().size - params.pc_bits
    words = [int(x) for x in rng.integers(0, 1 << width, 150)]
    words += [int(x) & ~0xF | int(rng.choice([2, 3])) for x in rng.integers(0, 1 << width, 150)]
    words += [int(x) & ~0xF | Opcode.LOAD.value for x in rng.integers(0, 1 << width, 60)]
    first_at, first_bits = field_offsets(params)["payload.io.first"]
    last_at, last_bits = field_offsets(params)["payload.io.last"]

    async def bench(ctx):
        for word in words:
            ctx.set(dut.prog.payload.as_value(), word << params.pc_bits)
            ctx.set(dut.prog.valid, 1)
            await ctx.tick()
            ctx.set(dut.prog.valid, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            # and the cycle of its issue: the outputs are its registers
            for _ in range(FILL_CYCLES + OUTPUT_STAGES):
                await ctx.tick()
            where = f"word {word:#x}"
            opcode = word & 0xF
            if opcode in (2, 3):
                slots = []
                base = 6 if opcode == 2 else 4
                for i in range(3 if opcode == 2 else 2):
                    s = word >> (base + i * 5)
                    slots.append((s & 7, (s >> 3) & 1, (s >> 4) & 1))
                key = mask = 0
                for col, value, enable in slots:
                    if enable and col < 7:
                        mask |= 1 << col
                        key = key & ~(1 << col) | value << col
                assert ctx.get(dut.mask) == mask, where
                assert ctx.get(dut.key) & mask == key, where
                if opcode == 2:
                    void = any(e1 and e2 and c1 == c2 and v1 != v2
                               for i, (c1, v1, e1) in enumerate(slots)
                               for (c2, v2, e2) in slots[i + 1:])
                    assert ctx.get(dut.match_void) == void, where
                    assert ctx.get(dut.tag_update) == (illegal_reason(word, params) is None)
            if opcode == Opcode.LOAD.value:
                first = word >> first_at & ((1 << first_bits) - 1)
                last = word >> last_at & ((1 << last_bits) - 1)
                tracks = np.arange(params.tracks)
                expected = int(((first <= tracks) & (tracks <= last)) @ (1 << tracks))
                assert ctx.get(dut.load_mask) == expected, where
            while ctx.get(dut.busy):  # let loads/reads/loops fault or stall out
                ctx.set(dut.data_in.valid, 1)
                ctx.set(dut.data_out.ready, 1)
                await ctx.tick()
            ctx.set(dut.data_in.valid, 0)
            illegal = illegal_reason(word, params) is not None
            assert (ctx.get(dut.error_code) == ErrorCode.ILLEGAL) == illegal, where
            while ctx.get(dut.data_out.valid):  # words of TQUERY or READ, left queued
                await ctx.tick()
            ctx.set(dut.data_out.ready, 0)

    simulate(dut, bench, "controller_decode")


def test_controller_prog_stream_and_length():
    """prog is ready only while idle; the length is the last address written + 1;
    addresses past program_depth are dropped."""
    params = MachineParams(rows=2, tracks=2, domains=2, program_depth=6)
    halt = enc(params, op(Opcode.HALT))[0]
    srch = enc(params, search())[0]
    dut = Controller(params, program=[srch, srch, srch, halt])

    async def bench(ctx):
        async def write_word(addr, word):
            ctx.set(dut.prog.payload.as_value(), addr | word << params.pc_bits)
            ctx.set(dut.prog.valid, 1)
            await ctx.tick()
            ctx.set(dut.prog.valid, 0)

        async def run():
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while ctx.get(dut.busy):
                assert not ctx.get(dut.prog.ready)
                await ctx.tick()
            return ctx.get(dut.error_code), ctx.get(dut.cycles)

        assert await run() == (ErrorCode.NONE, 4)
        await write_word(1, halt)  # length becomes 2: halts at pc 1
        assert await run() == (ErrorCode.NONE, 2)
        await write_word(7, 0)  # past the memory: dropped, length unchanged
        assert await run() == (ErrorCode.NONE, 2)
        await write_word(0, srch)
        await write_word(0, srch)  # length 1: runs off the end after one search
        assert await run() == (ErrorCode.RAN_OFF_END, 1)
        assert ctx.get(dut.pc) == 1

    simulate(dut, bench, "controller_prog")


def test_program_checks():
    params = MachineParams(rows=2, tracks=2, domains=2, program_depth=4)
    with pytest.raises(ValueError, match="does not fit"):
        RtmapTop(params, program=[1] * 5)
    with pytest.raises(ValueError, match="program word 1"):
        Controller(params, program=[1, 1 << 40])


@pytest.mark.parametrize("params", [MachineParams(rows=2, tracks=4, domains=6),
                                    MachineParams(rows=2, tracks=2, domains=1),
                                    MachineParams(rows=2, tracks=7, domains=9, shift_latency=3)],
                         ids=size_id)
def test_arith_sequencer_issues_the_micro_steps(params):
    """Cycle by cycle, the sequencer drives what rtmap.isa.micro_steps lists: each search or
    write as its key and mask, each shift as a move in its first of count x latency cycles;
    idle cycles (``run`` low) between instructions change nothing."""
    rng = np.random.default_rng(params.tracks)
    dut = ArithSequencer(params)
    instrs = [random_arith(rng, params) for _ in range(12)]

    async def bench(ctx):
        for instr in instrs:
            # Idle cycles between instructions, with another instruction's fields (the
            # controller stalls, or issues something else): nothing may carry over.
            ctx.set(dut.run, 0)
            for _ in range(rng.integers(0, 3)):
                other = random_arith(rng, params)
                for name in ("mode", "dest", "src", "bits", "width"):
                    ctx.set(getattr(dut, name), getattr(other, name))
                await ctx.tick()
            for name in ("mode", "dest", "src", "bits", "width"):
                ctx.set(getattr(dut, name), getattr(instr, name))
            ctx.set(dut.run, 1)
            got = []
            assert ctx.get(dut.first)
            while True:
                if ctx.get(dut.search) or ctx.get(dut.write):
                    got.append(("search" if ctx.get(dut.search) else "write",
                                ctx.get(dut.key), ctx.get(dut.mask)))
                elif ctx.get(dut.step_up):
                    got.append(("up", 1))
                elif ctx.get(dut.step_back):
                    got.append(("back", instr.width - 1))
                else:
                    got.append(("wait",))
                last = ctx.get(dut.last)
                await ctx.tick()
                if last:
                    break
                assert len(got) < 1000
            assert got == arith_cycles(instr, params), instr
            assert ctx.get(dut.first)

    simulate(dut, bench, f"arith_{size_id(params)}")
