"""The instruction simulator against docs/ISA.md: LUT passes, random programs against the
independent NumPy machine model (tests/hw/hw_models.py), exact counters, every error."""

import numpy as np
import pytest
from hw_models import (
    ArrayModel,
    add_sub_counters,
    add_sub_program,
    error_cases,
    random_program,
    run_machine,
)

from rtmap.asm import assemble
from rtmap.errors import RtmapError
from rtmap.isa import ArithMode, ErrorCode, Instr, Opcode, encode, instruction_bits, micro_steps
from rtmap.params import MachineParams
from rtmap.sim.machine import Machine

ADD = [((0, 1, 1), (1, 0)), ((0, 0, 1), (0, 1)), ((1, 0, 0), (0, 1)), ((1, 1, 0), (1, 0))]
SUB = [((0, 0, 1), (1, 1)), ((0, 1, 1), (0, 0)), ((1, 1, 0), (0, 0)), ((1, 0, 0), (1, 1))]


def lut_source(lut, c="f0", b="t1", a="t0"):
    lines = []
    for (kc, kb, ka), (wc, wb) in lut:
        lines += [f"search set {c}={kc} {b}={kb} {a}={ka}", f"write {c}={wc} {b}={wb}"]
    return "\n".join(lines)


@pytest.mark.parametrize("lut,expect", [
    (ADD, lambda c, b, a: divmod(c + b + a, 2)),
    (SUB, lambda c, b, a: (int(b - a - c < 0), (b - a - c) % 2)),
])
def test_one_bit_step_of_each_lut_on_all_eight_states(lut, expect):
    """Row r holds (C, B, A) = bits of r: every state at once; no row matches two passes."""
    params = MachineParams(rows=8, tracks=2, domains=1)
    machine = Machine(params)
    states = [(r >> 2 & 1, r >> 1 & 1, r & 1) for r in range(8)]
    setup = "\n".join("load+" for _ in range(8))
    words = assemble(f"setrow 0\n{setup}\nhalt", params)
    machine.run(words, [a | b << 1 for _, b, a in states])
    machine.set_flags(np.array([[c, 0] for c, _, _ in states]))
    result = machine.run(assemble(lut_source(lut) + "\nhalt", params))
    assert result.halted and result.counters["searches"] == 4
    for row, (c, b, a) in enumerate(states):
        carry, bit = expect(c, b, a)
        assert (machine.flag_bits()[row, 0], machine.array()[row, 1, 0]) == (carry, bit), \
            f"state C={c} B={b} A={a}"


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("subtract", [False, True])
def test_multi_bit_add_and_subtract_wrap_like_numpy(seed, subtract):
    rng = np.random.default_rng(seed)
    rows, bits = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    params = MachineParams(rows=rows, tracks=int(rng.integers(2, 6)), domains=bits + 1,
                           shift_latency=int(rng.integers(1, 4)))
    a, b = rng.integers(0, 1 << bits, (2, rows))
    words = [encode(i, params) for i in add_sub_program(params, 0, 1, bits, subtract)]
    stream = [int(a[r] >> d & 1 | (b[r] >> d & 1) << 1) for d in range(bits) for r in range(rows)]
    result = Machine(params).run(words, stream)
    assert result.halted and result.error is ErrorCode.NONE
    got = np.array([[w >> 1 & 1 for w in result.outputs[d * rows:(d + 1) * rows]]
                    for d in range(bits)])
    values = (got << np.arange(bits)[:, None]).sum(axis=0)
    np.testing.assert_array_equal(values, (b - a if subtract else b + a) % (1 << bits))
    assert result.counters == add_sub_counters(params, bits)


@pytest.mark.parametrize("seed", range(9))
def test_add_sub_mov_instructions_equal_numpy_and_their_micro_steps(seed):
    """An ``add``/``sub``/``mov`` leaves exactly what its micro steps, run as instructions, leave
    (array, flags, tags, counters); its values are numpy's modulo 2**width."""
    rng = np.random.default_rng(seed)
    params = MachineParams(rows=int(rng.integers(1, 30)), tracks=int(rng.integers(2, 6)),
                           domains=int(rng.integers(1, 12)), shift_latency=int(rng.integers(1, 4)))
    width = int(rng.integers(1, params.domains + 1))
    port = int(rng.integers(0, params.domains - width + 1))
    mode = list(ArithMode)[seed % 3]
    instr = Instr(Opcode.ARITH, mode=mode, dest=int(rng.integers(1, params.tracks)),
                  src=0, bits=int(rng.integers(1, width + 1)), width=width)
    bits = rng.integers(0, 2, (params.rows, params.tracks, params.domains))
    flags = rng.integers(0, 2, (params.rows, 2))
    prefix = [Instr(Opcode.SHIFT, count=port)] if port else []
    macro, micro = Machine(params), Machine(params)
    for machine in (macro, micro):
        machine.set_array(bits)
        machine.set_flags(flags)
    got = macro.run([encode(i, params) for i in (*prefix, instr, Instr(Opcode.HALT))])
    want = micro.run([encode(i, params) for i in (*prefix, *micro_steps(instr, params),
                                                   Instr(Opcode.HALT))])
    assert got.counters == want.counters and got.halted
    np.testing.assert_array_equal(macro.array(), micro.array())
    np.testing.assert_array_equal(macro.flag_bits(), micro.flag_bits())
    np.testing.assert_array_equal(macro.tag_bits(), micro.tag_bits())
    assert macro.port == port
    weights = 1 << np.arange(width)
    b = (bits[:, instr.dest, port:port + width] * weights).sum(axis=1)
    a = (bits[:, 0, port:port + instr.bits] * weights[:instr.bits]).sum(axis=1)
    result = np.array([macro.read_value(r, instr.dest, params.domains) >> port
                       for r in range(params.rows)]) % (1 << width)
    expected = {ArithMode.ADD: b + a, ArithMode.SUB: b - a, ArithMode.MOV: a}[mode]
    np.testing.assert_array_equal(result, expected % (1 << width))


SIZES = [
    MachineParams(rows=1, tracks=1, domains=1),
    MachineParams(rows=5, tracks=3, domains=4, shift_latency=2),
    MachineParams(rows=16, tracks=8, domains=6),
    MachineParams(rows=37, tracks=5, domains=3, shift_latency=3),
]


@pytest.mark.parametrize("params", SIZES, ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_random_programs_match_the_numpy_machine(params):
    """Random legal (and sometimes faulting) programs: outputs, counters, errors, array,
    flags all equal to the independent model's; at least 1,000 instructions per size."""
    seed = params.rows * 1000 + params.tracks
    rng = np.random.default_rng(seed)
    machine = Machine(params)
    model_array = ArrayModel(params.rows, params.tracks, params.domains)
    executed = 0
    for trial in range(10):
        width_mask = (1 << instruction_bits(params)) - 1  # what the prog stream can carry
        words = [w & width_mask
                 for w in random_program(rng, params, length=100, faults=trial % 3 == 2)]
        inputs = [int(v) for v in rng.integers(0, 1 << params.tracks, 4 * params.rows
                                               * params.domains + 400)]
        expected = run_machine(words, params, inputs, model_array)
        got = machine.run(words, inputs)
        where = f"seed {seed} trial {trial}"
        assert got.error is expected.error, where
        assert got.outputs == expected.outputs, where
        assert got.counters == expected.counters, where
        np.testing.assert_array_equal(machine.array(), model_array.bits.transpose(1, 2, 0),
                                      err_msg=where)
        np.testing.assert_array_equal(machine.flag_bits(), model_array.flags, err_msg=where)
        executed += len(expected.trace)
    assert executed >= 1000


@pytest.mark.parametrize("params", SIZES[1:], ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_every_error_code_with_its_counters_and_pc(params):
    for name, (words, code, counters) in error_cases(params).items():
        result = Machine(params).run(words)
        assert result.error is code, name
        assert not result.halted
        expected = {k: counters.get(k, 0) for k in result.counters}
        assert result.counters == expected, name
        # the faulting instruction is the last one, or the pc ran off the end
        assert result.pc == len(words) - (0 if code is ErrorCode.RAN_OFF_END else 1), name


def test_a_faulting_shift_leaves_the_port_where_it_was():
    params = MachineParams(rows=2, tracks=2, domains=4, shift_latency=3)
    machine = Machine(params)
    result = machine.run(assemble("shift up 2\nshift up 2\nhalt", params))
    assert result.error is ErrorCode.PORT_RANGE and result.pc == 1
    assert machine.port == 2 and result.counters["shifts"] == 2
    assert result.counters["cycles"] == 6


def test_counters_of_a_small_program_by_hand():
    params = MachineParams(rows=3, tracks=4, domains=8, shift_latency=3)
    source = """
        loop 3          # 1 cycle
          shift up 2    # 3 x 2*3 cycles, 3 x 2 domains
          search or t1=1
          write t2=1 f1=0
          shift down 2  # 3 x 6 cycles
        endl            # 3 cycles
        setrow 2
        read
        halt
    """
    result = Machine(params).run(assemble(source, params))
    assert result.halted and result.outputs == [0]
    assert result.counters == {"cycles": 1 + 3 * (6 + 1 + 1 + 6) + 3 + 1 + 1 + 1,
                               "searches": 3, "writes": 3, "shifts": 12, "io_words": 1}


def test_contents_persist_across_runs_and_start_resets_the_rest():
    params = MachineParams(rows=4, tracks=3, domains=5)
    machine = Machine(params)
    machine.run(assemble("shift up 3\nsetrow 2\nload\nsearch set\nwrite f1=1\nhalt", params),
                [0b101])
    assert machine.port == 3 and machine.rp == 2
    result = machine.run(assemble("shift up 3\nsetrow 2\nread\nhalt", params))
    assert result.outputs == [0b101] and machine.flag_bits()[:, 1].tolist() == [1, 1, 1, 1]
    assert machine.read_value(2, 0) == 1 << 3 and machine.read_value(2, 2) == 1 << 3
    assert machine.tag_bits().tolist() == [0, 0, 0, 0]  # start cleared the tags


def test_values_round_trip_through_write_value():
    params = MachineParams(rows=3, tracks=2, domains=6)
    machine = Machine(params)
    machine.write_value(1, 1, -5)
    assert machine.read_value(1, 1, signed=True) == -5
    assert machine.read_value(1, 1) == 64 - 5
    assert machine.read_value(1, 1, bits=3) == 3


def test_running_out_of_input_words_is_an_error():
    params = MachineParams(rows=2, tracks=2, domains=2)
    with pytest.raises(RtmapError, match=r"more input words than the host supplied \(2 given; "
                                         "LOAD at pc 3\\)"):
        Machine(params).run(assemble("load+\nload+\nsetrow 1\nload\nhalt", params), [1, 2])
    with pytest.raises(RtmapError, match="max_cycles=10"):
        Machine(params).run(assemble("loop 20\nsearch set\nendl\nhalt", params), max_cycles=10)


def test_tags_move_data_between_rows():
    """Copy a 4-bit value in track 0 of every row r into track 1 of row r+2, for all rows at
    once: per bit, tag the rows holding a 1, move the tags two rows up, write a 1; the same
    for 0. Rows 0 and 1 receive nothing (their track 1 stays as it was: 0)."""
    params = MachineParams(rows=7, tracks=2, domains=4)
    machine = Machine(params)
    values = [3, 9, 15, 0, 6, 12, 5]
    for row, value in enumerate(values):
        machine.write_value(row, 0, value)
    source = """
        loop 3
          search set t0=1
          tshift up 2
          write t1=1
          search set t0=0
          tshift up 2
          write t1=0
          shift up 1
        endl
        search set t0=1
        tshift up 2
        write t1=1
        search set t0=0
        tshift up 2
        write t1=0
        shift down 3
        tquery count
        tquery first
        search set t1=1 t0=0
        tquery any
        tquery first
        halt
    """
    result = machine.run(assemble(source, params))
    assert result.halted
    assert [machine.read_value(r, 1) for r in range(7)] == [0, 0, *values[:5]]
    # The tags left by the last pass: rows r whose source row r-2 has a 0 in bit 3.
    tagged = [r for r in range(2, 7) if not values[r - 2] >> 3 & 1]
    assert result.outputs[:2] == [len(tagged), tagged[0]]
    # Back at domain 0: rows whose moved bit 0 is 1 while their own bit 0 is 0.
    rows = [r for r in range(7)
            if (machine.read_value(r, 1) & 1) == 1 and (machine.read_value(r, 0) & 1) == 0]
    assert result.outputs[2:] == [int(bool(rows)), rows[0] if rows else 7]
    assert result.counters["io_words"] == 4
    # loop, 3 x (6 tag steps + shift up 1), 3 endl, 6 tag steps, shift down 3, 5 more, halt;
    # of the tag steps, each tshift takes 2 cycles on 7 rows (offsets up to 13, two octal
    # digits)
    assert result.counters["cycles"] == 1 + 3 * (4 + 2 * 2 + 1) + 3 + (4 + 2 * 2) + 3 + 5 + 1


def test_tag_shift_past_the_last_row_clears_and_queries_of_no_rows():
    params = MachineParams(rows=3, tracks=2, domains=2)
    result = Machine(params).run(assemble(
        "search set\ntshift down 3\ntquery any\ntquery count\ntquery first\nhalt", params))
    assert result.outputs == [0, 0, 3]  # first of no rows is R


def test_queued_loads_and_bulk_reads_equal_the_numpy_machine():
    """The simulator applies a run of LOADs together and builds a READ loop's words at once:
    a row loaded twice (different track ranges), loads at two ports, a write between two
    read loops and a read of a single row give what the NumPy model gives one by one."""
    params = MachineParams(rows=5, tracks=6, domains=3)
    source = """
        setrow 0
        loop 5
          load+
        endl
        setrow 2
        load t1..t3
        setrow 2
        load+ t4..t5
        shift up 1
        setrow 1
        load+
        load+ t0..t2
        shift down 1
        setrow 0
        loop 5
          read+
        endl
        search set t1=1
        write t0=0 t5=1
        setrow 0
        loop 5
          read+
        endl
        setrow 3
        read
        halt
    """
    words = assemble(source, params)
    inputs = [0b101101, 0b010110, 0b111000, 0b000111, 0b110011, 0b111111, 0b000000,
              0b101010, 0b010101]
    machine = Machine(params)
    result = machine.run(words, inputs)
    model_array = ArrayModel(params.rows, params.tracks, params.domains)
    expected = run_machine(words, params, inputs, model_array)
    assert result.outputs == expected.outputs and result.counters == expected.counters
    assert len(result.outputs) == 11
    np.testing.assert_array_equal(machine.array(), model_array.bits.transpose(1, 2, 0))
