"""Assembler and disassembler: round trips over random instructions, every mnemonic, and a
line-numbered message for each kind of mistake."""

import numpy as np
import pytest
from hw_models import random_arith

from rtmap.asm import assemble, disassemble, format_instr, parse_line
from rtmap.errors import RtmapError
from rtmap.isa import (
    ArithMode,
    Combine,
    Instr,
    Opcode,
    Slot,
    decode,
    encode,
    illegal_reason,
    instruction_layout,
)
from rtmap.isa import instruction_bits as word_bits
from rtmap.params import MachineParams

SIZES = [MachineParams(rows=1, tracks=1, domains=1), MachineParams(),
         MachineParams(rows=300, tracks=7, domains=40), MachineParams(rows=5, tracks=64)]


def random_instr(rng, params):
    # ARITH needs two distinct tracks.
    ops = [o.value for o in Opcode if params.tracks > 1 or o is not Opcode.ARITH]
    op = Opcode(int(rng.choice(ops)))
    high = (1 << params.imm_bits) - 1

    def slots(low, most):
        return tuple(Slot(int(rng.integers(0, params.columns)), int(rng.integers(0, 2)))
                     for _ in range(int(rng.integers(low, most + 1))))
    if op is Opcode.SEARCH:
        return Instr(op, combine=Combine(int(rng.integers(0, 4))), slots=slots(0, 3))
    if op is Opcode.WRITE:
        return Instr(op, slots=slots(1, 2))
    if op in (Opcode.SHIFT, Opcode.TSHIFT):
        return Instr(op, count=int(rng.integers(1, high + 1)), down=bool(rng.integers(0, 2)))
    if op is Opcode.TQUERY:
        return Instr(op, query=int(rng.integers(0, 3)))
    if op is Opcode.SETROW:
        return Instr(op, row=int(rng.integers(0, high + 1)))
    if op is Opcode.LOOP:
        return Instr(op, count=int(rng.integers(1, high + 1)))
    if op is Opcode.LOAD and rng.random() < 0.5:
        first = int(rng.integers(0, params.tracks))
        last = int(rng.integers(first, params.tracks))
        if (first, last) == (0, params.tracks - 1):
            last = None  # the canonical spelling of the full range
        return Instr(op, advance=bool(rng.integers(0, 2)), first=first, last=last)
    if op in (Opcode.LOAD, Opcode.READ):
        return Instr(op, advance=bool(rng.integers(0, 2)))
    if op is Opcode.ARITH:
        return random_arith(rng, params)
    return Instr(op)


@pytest.mark.parametrize("params", SIZES, ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_text_and_words_round_trip(params):
    rng = np.random.default_rng(params.rows + params.tracks)
    instrs = [random_instr(rng, params) for _ in range(400)]
    words = [encode(i, params) for i in instrs]
    text = "\n".join(format_instr(decode(w, params), params) for w in words)
    assert assemble(text, params) == words
    assert [decode(w, params) for w in words] == instrs
    assert len(disassemble(words, params).splitlines()) == len(words)


def test_every_mnemonic_assembles_as_documented():
    params = MachineParams(rows=8, tracks=4, domains=8)
    source = """
        search set            # every row matches
        search AND t0=1 f1=0  ; mnemonics are case-insensitive
        search or t3=0 f0=1 t1=1
        search andn f0=0
        write t2=1
        write f0=0 t1=1
        shift up 3
        shift down 0x2
        setrow 7
        load
        load+
        load+ t1..t2
        read
        read+
        loop 4
        endl
        tshift up 3
        tshift DOWN 1
        tquery count
        tquery first
        tquery any
        .word 0x0
        halt
    """
    words = assemble(source, params)
    ops = [Opcode.SEARCH] * 4 + [Opcode.WRITE] * 2 + [Opcode.SHIFT] * 2 + \
        [Opcode.SETROW] + [Opcode.LOAD] * 3 + [Opcode.READ] * 2 + [Opcode.LOOP, Opcode.ENDL]
    assert [decode(w, params).op for w in words[:16]] == ops
    assert decode(words[1], params) == Instr(Opcode.SEARCH, Combine.AND,
                                             (Slot(0, 1), Slot(5, 0)))
    assert decode(words[7], params) == Instr(Opcode.SHIFT, count=2, down=True)
    assert decode(words[10], params).advance and not decode(words[9], params).advance
    assert decode(words[11], params) == Instr(Opcode.LOAD, advance=True, first=1, last=2)
    assert decode(words[9], params).last is None  # the canonical form of "all tracks"
    assert decode(words[16], params) == Instr(Opcode.TSHIFT, count=3)
    assert decode(words[17], params) == Instr(Opcode.TSHIFT, count=1, down=True)
    assert [decode(w, params).query for w in words[18:21]] == [0, 1, 2]
    assert words[21] == 0 and illegal_reason(0, params) == "unknown opcode 0"
    assert decode(words[22], params).op is Opcode.HALT


def test_add_sub_mov_assemble_as_documented():
    params = MachineParams(rows=8, tracks=4, domains=8)
    add, sub, mov = assemble("add t3 t0 4/8\nSUB t1 t2 1/1\nmov t0 t3 2/5", params)
    assert decode(add, params) == Instr(Opcode.ARITH, dest=3, src=0, bits=4, width=8)
    assert decode(sub, params) == Instr(Opcode.ARITH, mode=ArithMode.SUB, dest=1, src=2, bits=1,
                                        width=1)
    assert decode(mov, params) == Instr(Opcode.ARITH, mode=ArithMode.MOV, dest=0, src=3, bits=2,
                                        width=5)
    assert disassemble([add], params).split("  ")[-1] == "add t3 t0 4/8"
    assert disassemble([mov], params).split("  ")[-1] == "mov t0 t3 2/5"


PARAMS = MachineParams(rows=8, tracks=32, domains=16)


@pytest.mark.parametrize("source,message", [
    ("halt\nserch set t0=1", "line 2: unknown mnemonic 'serch'"),
    ("write t40=1", "line 1: column t40 is outside t0..t31, f0, f1"),
    ("write f2=1", "line 1: column f2 is outside"),
    ("write t1=2", "line 1: operand 't1=2' is not COLUMN=BIT"),
    ("write", "line 1: write needs at least one column operand"),
    ("write t1=1 t2=1 t3=1", "line 1: at most 2 column operands allowed, got 3"),
    ("search set t1=1 t2=1 t3=1 t4=0", "at most 3 column operands allowed, got 4"),
    ("search t1=1", "search needs a mode first: set, and, or, andn"),
    ("\n\nshift up 0", "line 3: shift count 0 is outside 1..255"),
    ("shift sideways 1", "shift direction 'sideways' is not up or down"),
    ("shift up", "shift takes up|down and a count"),
    ("tshift up 0", "tshift count 0 is outside 1..255"),
    ("tquery all", "tquery takes one of count, first, any"),
    ("loop 256", "loop count 256 is outside 1..255"),
    ("setrow x", "row 'x' is not a number"),
    ("halt now", "halt takes no operands, got now"),
    ("load+ 3", "line 1: track range '3' is not tA..tB"),
    ("load t4..t2", "track range t4..t2 is not within t0..t31"),
    ("load t0..t32", "track range t0..t32 is not within t0..t31"),
    ("read+ t0..t3", "read\\+ takes no operands"),
    ("add t1 t2", "add takes a destination track, a source track and BITS/WIDTH, got t1 t2"),
    ("add t1 f0 4/8", "operand 'f0' is not a track"),
    ("sub t1 t2 4", "sub size '4' is not BITS/WIDTH"),
    ("add t1 t32 4/8", "source track 32 is outside t0..t31"),
    ("add t5 t5 4/8", "add/sub of track t5 into itself"),
    ("add t1 t2 9/8", "add/sub bits 9 and width 8 are not 1 <= bits <= width <= 16"),
    ("sub t1 t2 0/8", "bits 0 and width 8"),
    ("add t1 t2 4/17", "bits 4 and width 17"),
    (".word 0x40000000", r"\.word 0x40000000 does not fit in 30 bits"),
])
def test_mistakes_name_their_line(source, message):
    with pytest.raises(RtmapError, match=message) as info:
        assemble(source, PARAMS)
    assert "\n" not in str(info.value)


def test_disassembly_shows_illegal_words_and_loop_nesting():
    params = PARAMS
    bad_slot = {"col": 40, "value": 1, "enable": 1}  # past t31, f0, f1: the assembler refuses
    bad_column = instruction_layout(params).const(
        {"opcode": Opcode.WRITE, "payload": {"write": {"slots": [bad_slot, bad_slot]}}})
    words = assemble("loop 2\nsearch set t0=1\nendl\n.word 0x0\n.word 0xf\n"
                     f".word {bad_column.as_bits():#x}\nhalt", params)
    lines = disassemble(words, params).splitlines()
    assert lines[0].split()[-2:] == ["loop", "2"]
    assert lines[1].endswith("  search set t0=1") and "    search" in lines[1]
    assert "; illegal: unknown opcode 0" in lines[3]
    assert "; illegal: unknown opcode 15" in lines[4]
    assert "; illegal: column 40 is outside 0..33" in lines[5]
    assert lines[6].endswith("  halt")


def test_disassemble_never_raises_on_random_words():
    rng = np.random.default_rng(9)
    for params in SIZES:
        words = [int(w) for w in rng.integers(0, 1 << word_bits(params), 300)]
        assert len(disassemble(words, params).splitlines()) == 300


def test_blank_and_comment_lines_give_nothing():
    assert parse_line("   # just a comment", PARAMS) is None
    assert parse_line("", PARAMS) is None
    assert assemble("; nothing\n\n", PARAMS) == []
