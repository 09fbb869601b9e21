"""The fast integer encoder/decoder against Amaranth's own view of instruction_layout: the
hardware decodes words through the layout, so both must agree bit for bit."""

import numpy as np
import pytest
from test_asm import SIZES, random_instr

from rtmap.errors import RtmapError
from rtmap.isa import (
    ArithMode,
    Instr,
    Opcode,
    arith,
    cycles_of,
    decode,
    encode,
    encode_program,
    instruction_bits,
    instruction_layout,
)
from rtmap.params import MachineParams


def layout_const(instr, params):
    """The word built by Amaranth from a nested dict, written independently of rtmap.isa."""
    def slots(count):
        given = [{"col": s.col, "value": s.value, "enable": 1} for s in instr.slots]
        return given + [{"col": 0, "value": 0, "enable": 0}] * (count - len(given))
    op = instr.op
    payload = {
        Opcode.SEARCH: lambda: {"search": {"combine": instr.combine, "slots": slots(3)}},
        Opcode.WRITE: lambda: {"write": {"slots": slots(2)}},
        Opcode.SHIFT: lambda: {"shift": {"down": int(instr.down), "count": instr.count}},
        Opcode.TSHIFT: lambda: {"shift": {"down": int(instr.down), "count": instr.count}},
        Opcode.TQUERY: lambda: {"query": {"what": instr.query}},
        Opcode.SETROW: lambda: {"setrow": {"row": instr.row}},
        Opcode.LOAD: lambda: {"io": {"advance": int(instr.advance), "first": instr.first,
                                     "last": params.tracks - 1 if instr.last is None
                                     else instr.last}},
        Opcode.READ: lambda: {"io": {"advance": int(instr.advance)}},
        Opcode.LOOP: lambda: {"loop": {"count": instr.count}},
        Opcode.ARITH: lambda: {"arith": {"mode": instr.mode, "dest": instr.dest,
                                         "src": instr.src, "bits": instr.bits,
                                         "width": instr.width}},
    }.get(op, lambda: {"io": {"advance": 0}})()
    return instruction_layout(params).const({"opcode": op, "payload": payload}).as_bits()


@pytest.mark.parametrize("params", SIZES, ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_fast_encoding_equals_the_amaranth_layout(params):
    rng = np.random.default_rng(params.tracks)
    for _ in range(300):
        instr = random_instr(rng, params)
        word = encode(instr, params)
        assert word == layout_const(instr, params), instr
        assert word < 1 << instruction_bits(params)
        view = instruction_layout(params).from_bits(word)
        assert view.opcode == instr.op
        assert decode(word, params) == instr


def test_fast_arith_constructor_equals_the_dataclass():
    for mode in ArithMode:
        fast = arith(mode, 3, 5, 2, 7)
        slow = Instr(Opcode.ARITH, mode=mode, dest=3, src=5, bits=2, width=7)
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert arith(ArithMode.ADD, 3, 5, 2, 7) != arith(ArithMode.SUB, 3, 5, 2, 7)


@pytest.mark.parametrize("params", SIZES, ids=lambda p: f"{p.rows}x{p.tracks}x{p.domains}")
def test_encode_program_equals_encode_word_by_word(params):
    rng = np.random.default_rng(params.rows)
    code = [random_instr(rng, params) for _ in range(400)]
    assert encode_program(code, params) == [encode(instr, params) for instr in code]
    if params.tracks > 1:
        bad = arith(ArithMode.MOV, 0, 0, 1, 1)
        with pytest.raises(RtmapError, match="add/sub of track t0 into itself"):
            encode_program([*code, bad], params)


@pytest.mark.parametrize(("rows", "cycles"), [
    (1, 1), (4, 1),  # offsets up to 7: one octal digit
    (5, 2), (7, 2), (32, 2),  # up to 9, 13, 63
    (33, 3), (64, 3), (256, 3),  # up to 65, 127, 511
    (257, 4), (2048, 4), (2049, 5)])  # up to 513, 4095, 4097
def test_tshift_takes_a_cycle_per_octal_digit_of_its_offsets(rows, cycles):
    params = MachineParams(rows=rows, tracks=4, domains=4)
    for count in (1, rows - 1 or 1, rows, (1 << params.imm_bits) - 1):
        for down in (False, True):
            assert cycles_of(Instr(Opcode.TSHIFT, count=count, down=down), params) == cycles
