"""Assembler and disassembler for ISA v2 (syntax in docs/ISA.md).

Both go through :mod:`rtmap.isa`'s encode/decode, so the text form can never disagree with the
encoding the hardware decodes. Canonical words round-trip: ``assemble(disassemble(w)) == w``.

    search and t3=1 f0=0     # columns: t0..t{T-1} tracks, f0 f1 flags
    write t3=0 f0=1
    shift up 1               # shift down N: the port, toward domain D-1 / 0
    tshift up 2              # tshift down N: the tags, toward row R-1 / 0
    tquery count             # push count / first / any of the tags to data_out
    setrow 0
    loop 4 ... endl
    load+                    # load / load+ / read / read+
    load+ t0..t7             # load writing only tracks 0..7
    add t9 t2 4/11           # t9 += t2: 4 bits of t2, 11 of t9, from the port
    sub t9 t2 4/11           # t9 -= t2;  mov t9 t2 4/11: t9 = t2 (zero-extended)
    halt
    .word 0x1234             # a raw word, legal or not (tests inject illegal ones this way)
"""

from __future__ import annotations

import re

from .errors import RtmapError
from .isa import (
    ArithMode,
    Combine,
    Instr,
    Opcode,
    Query,
    Slot,
    decode,
    encode,
    hex_digits,
    illegal_reason,
)
from .isa import instruction_bits as word_bits
from .params import FLAGS, MachineParams

_OPERAND = re.compile(r"^([tf])(\d+)=([01])$")
_BARE = {"halt": Opcode.HALT, "endl": Opcode.ENDL}
_ARITH_MNEMONICS = {mode.name.lower(): mode for mode in ArithMode}
_IO = {"load": (Opcode.LOAD, False), "load+": (Opcode.LOAD, True),
       "read": (Opcode.READ, False), "read+": (Opcode.READ, True)}


def column_name(col: int, params: MachineParams) -> str:
    return f"t{col}" if col < params.tracks else f"f{col - params.tracks}"


def _columns_text(params: MachineParams) -> str:
    flags = ", ".join(f"f{i}" for i in range(FLAGS))
    return f"t0..t{params.tracks - 1}, {flags}"


def _operand(text: str, params: MachineParams) -> Slot:
    found = _OPERAND.match(text)
    if not found:
        raise RtmapError(f"operand {text!r} is not COLUMN=BIT (e.g. t3=1, f0=0)")
    kind, index, value = found.group(1), int(found.group(2)), int(found.group(3))
    limit = params.tracks if kind == "t" else FLAGS
    if index >= limit:
        raise RtmapError(f"column {kind}{index} is outside {_columns_text(params)}")
    return Slot(index if kind == "t" else params.tracks + index, value)


def _track_range(text: str, params: MachineParams) -> tuple[int, int]:
    found = re.match(r"^t(\d+)\.\.t(\d+)$", text)
    if not found:
        raise RtmapError(f"track range {text!r} is not tA..tB (e.g. t0..t15)")
    first, last = int(found.group(1)), int(found.group(2))
    if not first <= last < params.tracks:
        raise RtmapError(f"track range t{first}..t{last} is not within t0..t{params.tracks - 1}")
    return first, last


def _track(text: str, params: MachineParams) -> int:
    found = re.match(r"^t(\d+)$", text)
    if not found:
        raise RtmapError(f"operand {text!r} is not a track (t0..t{params.tracks - 1})")
    return int(found.group(1))


def _number(text: str, what: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise RtmapError(f"{what} {text!r} is not a number") from None


def _expect(args: list[str], count: int, mnemonic: str, usage: str) -> None:
    if len(args) != count:
        raise RtmapError(f"{mnemonic} takes {usage}, got {' '.join(args) or 'nothing'}")


def parse_line(text: str, params: MachineParams) -> Instr | int | None:
    """One source line: an instruction, a raw ``.word`` (int), or None for blank/comment."""
    code = re.split(r"[#;]", text, maxsplit=1)[0].strip().lower()
    if not code:
        return None
    mnemonic, *args = code.split()
    if mnemonic == ".word":
        _expect(args, 1, ".word", "one number")
        word = _number(args[0], "word")
        if not 0 <= word < 1 << word_bits(params):
            raise RtmapError(f".word {args[0]} does not fit in {word_bits(params)} bits")
        return word
    if mnemonic in _BARE:
        _expect(args, 0, mnemonic, "no operands")
        return Instr(_BARE[mnemonic])
    if mnemonic in _IO:
        op, advance = _IO[mnemonic]
        if op is Opcode.LOAD and args:
            _expect(args, 1, mnemonic, "at most a track range tA..tB")
            first, last = _track_range(args[0], params)
            return Instr(op, advance=advance, first=first, last=last)
        _expect(args, 0, mnemonic, "no operands")
        return Instr(op, advance=advance)
    if mnemonic == "search":
        if not args or args[0].upper() not in Combine.__members__:
            raise RtmapError("search needs a mode first: set, and, or, andn")
        slots = tuple(_operand(a, params) for a in args[1:])
        return Instr(Opcode.SEARCH, combine=Combine[args[0].upper()], slots=slots)
    if mnemonic == "write":
        return Instr(Opcode.WRITE, slots=tuple(_operand(a, params) for a in args))
    if mnemonic in ("shift", "tshift"):
        _expect(args, 2, mnemonic, "up|down and a count")
        if args[0] not in ("up", "down"):
            raise RtmapError(f"{mnemonic} direction {args[0]!r} is not up or down")
        return Instr(Opcode[mnemonic.upper()], down=args[0] == "down",
                     count=_number(args[1], "count"))
    if mnemonic == "tquery":
        names = ", ".join(q.name.lower() for q in Query)
        if len(args) != 1 or args[0].upper() not in Query.__members__:
            raise RtmapError(f"tquery takes one of {names}")
        return Instr(Opcode.TQUERY, query=Query[args[0].upper()].value)
    if mnemonic == "setrow":
        _expect(args, 1, "setrow", "a row number")
        return Instr(Opcode.SETROW, row=_number(args[0], "row"))
    if mnemonic in _ARITH_MNEMONICS:
        _expect(args, 3, mnemonic, "a destination track, a source track and BITS/WIDTH")
        dest, src = (_track(a, params) for a in args[:2])
        found = re.match(r"^(\d+)/(\d+)$", args[2])
        if not found:
            raise RtmapError(f"{mnemonic} size {args[2]!r} is not BITS/WIDTH (e.g. 4/11)")
        return Instr(Opcode.ARITH, mode=_ARITH_MNEMONICS[mnemonic], dest=dest, src=src,
                     bits=int(found.group(1)), width=int(found.group(2)))
    if mnemonic == "loop":
        _expect(args, 1, "loop", "an iteration count")
        return Instr(Opcode.LOOP, count=_number(args[0], "count"))
    raise RtmapError(f"unknown mnemonic {mnemonic!r}")


def assemble(text: str, params: MachineParams) -> list[int]:
    """Program words for assembly ``text``; errors name the line."""
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            parsed = parse_line(line, params)
            if parsed is not None:
                words.append(parsed if isinstance(parsed, int) else encode(parsed, params))
        except RtmapError as exc:
            raise RtmapError(f"line {number}: {exc}") from None
    return words


def format_instr(instr: Instr, params: MachineParams) -> str:
    op = instr.op
    operands = " ".join(f"{column_name(s.col, params)}={s.value}" for s in instr.slots)
    if op is Opcode.SEARCH:
        return f"search {instr.combine.name.lower()} {operands}".rstrip()
    if op is Opcode.WRITE:
        return f"write {operands}"
    if op in (Opcode.SHIFT, Opcode.TSHIFT):
        return f"{op.name.lower()} {'down' if instr.down else 'up'} {instr.count}"
    if op is Opcode.TQUERY:
        return f"tquery {Query(instr.query).name.lower()}"
    if op is Opcode.SETROW:
        return f"setrow {instr.row}"
    if op is Opcode.LOOP:
        return f"loop {instr.count}"
    if op is Opcode.ARITH:
        return (f"{instr.mode.name.lower()} t{instr.dest} t{instr.src} "
                f"{instr.bits}/{instr.width}")
    if op in (Opcode.LOAD, Opcode.READ):
        text = op.name.lower() + ("+" if instr.advance else "")
        if op is Opcode.LOAD and instr.last is not None:
            text += f" t{instr.first}..t{instr.last}"
        return text
    return op.name.lower()


def disassemble(words: list[int], params: MachineParams) -> str:
    """One line per word: address, hex word, assembly indented by loop depth.

    An illegal word (which the hardware would trap on) shows as ``.word`` with the reason.
    """
    digits = hex_digits(params)
    lines, depth = [], 0
    for address, word in enumerate(words):
        reason = illegal_reason(word, params) if word >> word_bits(params) == 0 else \
            f"wider than {word_bits(params)} bits"
        if reason:
            text = f".word {word:#x}  ; illegal: {reason}"
        else:
            instr = decode(word, params)
            if instr.op is Opcode.ENDL:
                depth = max(depth - 1, 0)
            text = "  " * depth + format_instr(instr, params)
            if instr.op is Opcode.LOOP:
                depth += 1
        lines.append(f"{address:6d}  {word:0{digits}x}  {text}")
    return "\n".join(lines)
