"""Program files: hex + sidecar round trip, and one-line errors for every way they go wrong."""

import json

import pytest

from rtmap.asm import assemble
from rtmap.errors import RtmapError
from rtmap.isa import ISA_VERSION, hex_digits
from rtmap.params import MachineParams
from rtmap.program import Program, check_params, load_program

PARAMS = MachineParams(rows=8, tracks=12, domains=10)


@pytest.fixture
def saved(tmp_path):
    words = assemble("setrow 0\nloop 8\nload+\nendl\nsearch set t0=1\nwrite t1=1\nhalt", PARAMS)
    hex_path, json_path = Program(PARAMS, words, {"stats": {"cycles": 20}}).save(tmp_path / "p")
    return words, hex_path, json_path


def test_round_trip_and_readmemh_format(saved):
    words, hex_path, json_path = saved
    lines = hex_path.read_text().splitlines()
    assert len(lines) == len(words)
    assert all(len(line) == hex_digits(PARAMS) and int(line, 16) == w
               for line, w in zip(lines, words, strict=True))
    meta = json.loads(json_path.read_text())
    assert meta["format"] == "rtmap-program" and meta["isa_version"] == ISA_VERSION
    assert meta["params"] == PARAMS.as_dict() and meta["length"] == len(words)
    loaded = load_program(hex_path)
    assert loaded.words == words and loaded.params == PARAMS
    assert loaded.meta == {"stats": {"cycles": 20}}


def rewrite(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("damage,message", [
    (lambda h, j: h.unlink(), "program.hex: no such file"),
    (lambda h, j: j.unlink(), "program.hex: sidecar program.json not found; it records the "
                              "machine parameters"),
    (lambda h, j: h.write_text("0a\nxyz\n"), "program.hex line 2: 'xyz' is not a hexadecimal word"),
    (lambda h, j: h.write_text("ffffffff\n"), "program.hex line 1: ffffffff is wider than the "
                                              "24-bit instructions"),
    (lambda h, j: h.write_text(h.read_text() + "1\n"), "program.hex: holds 8 words but "
                                                       "program.json says length 7"),
    (lambda h, j: j.write_text("{not json"), "program.json: not readable JSON"),
    (lambda h, j: rewrite(j, lambda m: m.pop("format")), "not an rtmap program sidecar"),
    (lambda h, j: rewrite(j, lambda m: m.update(isa_version=99)),
     f"program is for ISA version 99, this rtmap implements {ISA_VERSION}"),
    (lambda h, j: rewrite(j, lambda m: m["params"].update(rows=0)),
     "program.json: bad machine parameters: parameter rows=0 is out of range"),
    (lambda h, j: rewrite(j, lambda m: m["params"].update(lanes=3)),
     "unknown machine parameter\\(s\\): lanes"),
])
def test_damaged_programs_name_the_problem(saved, damage, message):
    _, hex_path, json_path = saved
    damage(hex_path, json_path)
    with pytest.raises(RtmapError, match=message) as info:
        load_program(hex_path)
    assert "\n" not in str(info.value)


def test_other_machine_parameters_are_refused(saved):
    _, hex_path, _ = saved
    program = load_program(hex_path)
    check_params(program, PARAMS)
    with pytest.raises(RtmapError, match="program was compiled for rows=8, tracks=12 but the "
                                         "machine has rows=16, tracks=32"):
        check_params(program, MachineParams(rows=16, tracks=32, domains=10))
