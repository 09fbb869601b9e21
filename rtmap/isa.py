"""ISA v2: the one definition of the instruction encoding.

The hardware decoder views program words through :func:`instruction_layout`; the assembler and
the simulators encode and decode through the same layout with :func:`encode` / :func:`decode`.
Legality (:func:`illegal_reason`) and cost (:func:`cycles_of`) are defined here once as well.
``docs/ISA.md`` describes the same thing for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from amaranth.hdl import Shape
from amaranth.lib import data, enum

from .errors import RtmapError
from .params import MachineParams

ISA_VERSION = 2
OPCODE_BITS = 4
SEARCH_SLOTS = 3
WRITE_SLOTS = 2
# The performance counters every model keeps (docs/ISA.md "Counters"), in this order.
COUNTERS = ("cycles", "searches", "writes", "shifts", "io_words")


class Opcode(enum.Enum, shape=OPCODE_BITS):
    # 0 is deliberately not an instruction: blank program memory traps as illegal.
    HALT = 1
    SEARCH = 2
    WRITE = 3
    SHIFT = 4
    SETROW = 5
    LOAD = 6
    READ = 7
    LOOP = 8
    ENDL = 9
    TSHIFT = 10
    TQUERY = 11
    ARITH = 12  # add / sub / mov: a whole bit-serial operation, micro-sequenced


# Bit-serial add and subtract as LUT passes (docs/ISA.md): keys (C, B, A) -> writes (C, B),
# with C the carry/borrow flag f0, B the destination, A the source. In this order no row
# can match two passes of one bit (tests/sim/test_machine.py checks all eight states).
ADD_PASSES = (((0, 1, 1), (1, 0)), ((0, 0, 1), (0, 1)), ((1, 0, 0), (0, 1)), ((1, 1, 0), (1, 0)))
SUB_PASSES = (((0, 0, 1), (1, 1)), ((0, 1, 1), (0, 0)), ((1, 1, 0), (0, 0)), ((1, 0, 0), (1, 1)))
# Past the source's last bit (A = 0) only the carry or borrow still moves: (C, B) -> (C, B).
CARRY_PASSES = (((1, 0), (0, 1)), ((1, 1), (1, 0)))
BORROW_PASSES = (((1, 1), (0, 0)), ((1, 0), (1, 1)))
# A copy: B takes A's bit where they differ (the carry stays 0); above A's bits B clears.
MOV_PASSES = (((0, 0, 1), (0, 1)), ((0, 1, 0), (0, 0)))
CLEAR_PASSES = (((0, 1), (0, 0)),)


class ArithMode(enum.Enum, shape=2):
    """What an ARITH does to its destination (3 is illegal)."""

    ADD = 0  # dest += src
    SUB = 1  # dest -= src
    MOV = 2  # dest = src (zero-extended)


# The LUT passes of each mode: (at a domain within the source's bits, above them).
ARITH_PASSES = {ArithMode.ADD: (ADD_PASSES, CARRY_PASSES),
                ArithMode.SUB: (SUB_PASSES, BORROW_PASSES),
                ArithMode.MOV: (MOV_PASSES, CLEAR_PASSES)}


class Combine(enum.Enum, shape=2):
    """How a search's match combines with the tag register."""

    SET = 0  # tag = match
    AND = 1  # tag = tag & match
    OR = 2  # tag = tag | match
    ANDN = 3  # tag = tag & ~match


class Query(enum.Enum, shape=2):
    """What TQUERY pushes to data_out about the tag register (3 is illegal)."""

    COUNT = 0  # number of tagged rows
    FIRST = 1  # index of the lowest tagged row; R when none is
    ANY = 2  # 1 if some row is tagged


class ErrorCode(enum.Enum, shape=3):
    """The controller's sticky error state (0: none)."""

    NONE = 0
    ILLEGAL = 1  # opcode 0 or 13..15, a column past the last flag, a count of 0, query 3, ...
    RAN_OFF_END = 2  # the pc reached the program's length without a HALT
    PORT_RANGE = 3  # a shift would move the port outside domains 0..D-1
    ROW_RANGE = 4  # LOAD/READ with the row pointer at or past the last row
    LOOP_STACK = 5  # LOOP nested deeper than LOOP_DEPTH, or ENDL without a LOOP


def slot_layout(params: MachineParams) -> data.StructLayout:
    """One column operand: which column, the bit to compare or write, and whether it is used."""
    return data.StructLayout({"col": params.column_bits, "value": 1, "enable": 1})


@cache
def instruction_layout(params: MachineParams) -> data.StructLayout:
    """Bit layout of an instruction word: opcode in the low bits, then a per-opcode payload."""
    slot = slot_layout(params)
    payload = data.UnionLayout({
        "search": data.StructLayout({
            "combine": Combine, "slots": data.ArrayLayout(slot, SEARCH_SLOTS)}),
        "write": data.StructLayout({"slots": data.ArrayLayout(slot, WRITE_SLOTS)}),
        "shift": data.StructLayout({"down": 1, "count": params.imm_bits}),  # SHIFT, TSHIFT
        "query": data.StructLayout({"what": 2}),
        "setrow": data.StructLayout({"row": params.imm_bits}),
        # LOAD writes tracks first..last only (READ ignores the range).
        "io": data.StructLayout({"advance": 1, "first": params.column_bits,
                                 "last": params.column_bits}),
        "loop": data.StructLayout({"count": params.imm_bits}),
        # ARITH: dest += src (-=, =) over ``width`` domains from the port, of which the
        # first ``bits`` read src (src is zero-extended past them).
        "arith": data.StructLayout({"mode": ArithMode, "dest": params.column_bits,
                                    "src": params.column_bits,
                                    "bits": params.domains.bit_length(),
                                    "width": params.domains.bit_length()}),
    })
    return data.StructLayout({"opcode": Opcode, "payload": payload})


@cache
def field_offsets(params: MachineParams) -> dict[str, tuple[int, int]]:
    """(offset, width) of every leaf field of :func:`instruction_layout`, by dotted path
    (``payload.search.slots.1.col``). Read off the layout itself, so the fast integer
    encoders below cannot drift from what the hardware decodes."""
    fields: dict[str, tuple[int, int]] = {}

    def walk(shape, offset: int, path: str) -> None:
        if isinstance(shape, data.ArrayLayout):
            elem = data.Layout.cast(shape.elem_shape) if isinstance(
                shape.elem_shape, data.Layout) else shape.elem_shape
            size = Shape.cast(elem).width
            for index in range(shape.length):
                walk(elem, offset + index * size, f"{path}.{index}")
        elif isinstance(shape, data.Layout):
            for name, member in shape:
                walk(member.shape, offset + member.offset, f"{path}.{name}".lstrip("."))
        else:
            fields[path] = (offset, Shape.cast(shape).width)

    walk(instruction_layout(params), 0, "")
    return fields


@cache
def instruction_bits(params: MachineParams) -> int:
    return instruction_layout(params).size  # a layout's size is recomputed on every access


def hex_digits(params: MachineParams) -> int:
    return (instruction_bits(params) + 3) // 4


@dataclass(frozen=True)
class Slot:
    col: int
    value: int


@dataclass(frozen=True)
class Instr:
    """A decoded instruction. Only the fields its opcode uses are meaningful."""

    op: Opcode
    combine: Combine = Combine.SET  # SEARCH
    slots: tuple[Slot, ...] = field(default_factory=tuple)  # SEARCH (<= 3), WRITE (<= 2)
    count: int = 0  # SHIFT, LOOP
    down: bool = False  # SHIFT: toward domain 0
    row: int = 0  # SETROW
    query: int = 0  # TQUERY: a Query value
    advance: bool = False  # LOAD, READ: row pointer += 1 afterwards
    first: int = 0  # LOAD: the tracks written are first..last
    last: int | None = None  # LOAD: None means the last track, T-1
    mode: ArithMode = ArithMode.ADD  # ARITH: add, subtract or copy
    dest: int = 0  # ARITH: the track written
    src: int = 0  # ARITH: the track added
    bits: int = 0  # ARITH: domains of src read (1..width)
    width: int = 0  # ARITH: domains of dest walked (bits..D)


_ARITH_DEFAULTS = dict(Instr(Opcode.ARITH).__dict__)


def arith(mode: ArithMode, dest: int, src: int, bits: int, width: int) -> Instr:
    """``Instr(Opcode.ARITH, mode=mode, dest=dest, ...)``, five times faster: it fills the
    fields directly instead of through the frozen dataclass's per-field ``__setattr__``
    (the compiler emits millions of these). Equal to, and hashes as, the long form."""
    instr = object.__new__(Instr)
    fields = instr.__dict__
    fields.update(_ARITH_DEFAULTS)
    fields["mode"], fields["dest"], fields["src"] = mode, dest, src
    fields["bits"], fields["width"] = bits, width
    return instr


def _check_slots(slots: tuple[Slot, ...], size: int, params: MachineParams) -> None:
    if len(slots) > size:
        raise RtmapError(f"at most {size} column operands allowed, got {len(slots)}")
    for slot in slots:
        if not 0 <= slot.col < params.columns:
            raise RtmapError(f"column {slot.col} is outside 0..{params.columns - 1}")
        if slot.value not in (0, 1):
            raise RtmapError(f"column bit must be 0 or 1, got {slot.value}")


def _check_imm(name: str, value: int, params: MachineParams, low: int = 0) -> int:
    high = (1 << params.imm_bits) - 1
    if not low <= value <= high:
        raise RtmapError(f"{name} {value} is outside {low}..{high}")
    return value


def _pack(params: MachineParams, values: dict[str, int]) -> int:
    fields = field_offsets(params)
    word = 0
    for path, value in values.items():
        offset, width = fields[path]
        assert 0 <= value < 1 << width, (path, value)
        word |= value << offset
    return word


def _get(word: int, params: MachineParams, path: str) -> int:
    offset, width = field_offsets(params)[path]
    return word >> offset & ((1 << width) - 1)


def _slot_values(kind: str, slots: tuple[Slot, ...]) -> dict[str, int]:
    values = {}
    for index, slot in enumerate(slots):  # filled in order; the rest stay zero (disabled)
        prefix = f"payload.{kind}.slots.{index}"
        values.update({f"{prefix}.col": slot.col, f"{prefix}.value": slot.value,
                       f"{prefix}.enable": 1})
    return values


def encode_program(code: Sequence[Instr], params: MachineParams) -> list[int]:
    """The program words for ``code``; raises RtmapError for anything illegal. ARITH words
    (mostly distinct) are checked and packed inline, the others cached (compiled layers run
    to millions of words)."""
    mode_at, dest_at, src_at, bits_at, width_at = _arith_offsets(params)
    tracks, domains = params.tracks, params.domains
    words = []
    for instr in code:
        if instr.op is not Opcode.ARITH:
            words.append(_encode_cached(instr, params))
            continue
        dest, src, bits, width = instr.dest, instr.src, instr.bits, instr.width
        if not (0 <= dest < tracks and 0 <= src < tracks and dest != src
                and 1 <= bits <= width <= domains):
            raise RtmapError(_arith_reason(dest, src, bits, width, params))
        words.append(_ARITH_OPCODE | instr.mode._value_ << mode_at | dest << dest_at
                     | src << src_at | bits << bits_at | width << width_at)
    return words


def encode(instr: Instr, params: MachineParams) -> int:
    """The program word for ``instr``; raises RtmapError for anything illegal."""
    return encode_program((instr,), params)[0]


# Enum ``.value`` is a property (and an enum hashes in Python): per encoded word these read
# the plain ``_value_`` attribute instead.
_ARITH_OPCODE = Opcode.ARITH.value


@cache
def _arith_offsets(params: MachineParams) -> tuple[int, ...]:
    fields = field_offsets(params)
    return tuple(fields[f"payload.arith.{name}"][0]
                 for name in ("mode", "dest", "src", "bits", "width"))


@cache
def _encode_cached(instr: Instr, params: MachineParams) -> int:
    op = instr.op
    values = {"opcode": op.value}
    if op is Opcode.SEARCH:
        _check_slots(instr.slots, SEARCH_SLOTS, params)
        values["payload.search.combine"] = Combine(instr.combine).value
        values.update(_slot_values("search", instr.slots))
    elif op is Opcode.WRITE:
        if not instr.slots:
            raise RtmapError("write needs at least one column operand")
        _check_slots(instr.slots, WRITE_SLOTS, params)
        values.update(_slot_values("write", instr.slots))
    elif op in (Opcode.SHIFT, Opcode.TSHIFT):
        values["payload.shift.down"] = int(instr.down)
        values["payload.shift.count"] = _check_imm(f"{op.name.lower()} count", instr.count,
                                                   params, 1)
    elif op is Opcode.TQUERY:
        values["payload.query.what"] = Query(instr.query).value
    elif op is Opcode.SETROW:
        values["payload.setrow.row"] = _check_imm("row", instr.row, params)
    elif op is Opcode.LOAD:
        last = params.tracks - 1 if instr.last is None else instr.last
        if not 0 <= instr.first <= last < params.tracks:
            raise RtmapError(f"load tracks t{instr.first}..t{last} are not a range within "
                             f"t0..t{params.tracks - 1}")
        values.update({"payload.io.advance": int(instr.advance), "payload.io.first":
                       instr.first, "payload.io.last": last})
    elif op is Opcode.READ:
        values["payload.io.advance"] = int(instr.advance)
    elif op is Opcode.LOOP:
        values["payload.loop.count"] = _check_imm("loop count", instr.count, params, 1)
    return _pack(params, values)  # HALT, ENDL: no operands, all zero


def _slots_of(word: int, params: MachineParams, kind: str, size: int) -> list[tuple[int, ...]]:
    """(col, value) of each enabled slot, in slot order."""
    prefix = f"payload.{kind}.slots"
    return [(_get(word, params, f"{prefix}.{i}.col"), _get(word, params, f"{prefix}.{i}.value"))
            for i in range(size) if _get(word, params, f"{prefix}.{i}.enable")]


def _arith_reason(dest: int, src: int, bits: int, width: int,
                  params: MachineParams) -> str | None:
    """Why an add/sub with these operands is illegal, or None."""
    for name, track in (("destination", dest), ("source", src)):
        if not 0 <= track < params.tracks:
            return f"{name} track {track} is outside t0..t{params.tracks - 1}"
    if dest == src:
        return f"add/sub of track t{dest} into itself"
    if not 1 <= bits <= width <= params.domains:
        return f"add/sub bits {bits} and width {width} are not 1 <= bits <= width <= " \
               f"{params.domains}"
    return None


@cache
def illegal_reason(word: int, params: MachineParams) -> str | None:
    """Why the hardware would trap on ``word`` as ILLEGAL, or None if it is legal."""
    opcode = _get(word, params, "opcode")
    if opcode not in {op.value for op in Opcode}:
        return f"unknown opcode {opcode}"
    op = Opcode(opcode)
    if op in (Opcode.SEARCH, Opcode.WRITE):
        kind, size = ("search", SEARCH_SLOTS) if op is Opcode.SEARCH else ("write", WRITE_SLOTS)
        for col, _ in _slots_of(word, params, kind, size):
            if col >= params.columns:
                return f"column {col} is outside 0..{params.columns - 1}"
    if op in (Opcode.SHIFT, Opcode.TSHIFT) and _get(word, params, "payload.shift.count") == 0:
        return f"{op.name.lower()} count 0"
    if op is Opcode.TQUERY and _get(word, params, "payload.query.what") == 3:
        return "unknown tag query 3"
    if op is Opcode.LOOP and _get(word, params, "payload.loop.count") == 0:
        return "loop count 0"
    if op is Opcode.LOAD:
        first, last = _get(word, params, "payload.io.first"), _get(word, params, "payload.io.last")
        if not first <= last < params.tracks:
            return f"load tracks {first}..{last} are not a range within 0..{params.tracks - 1}"
    if op is Opcode.ARITH:
        if _get(word, params, "payload.arith.mode") == 3:
            return "unknown add/sub/mov mode 3"
        return _arith_reason(*(_get(word, params, f"payload.arith.{name}")
                               for name in ("dest", "src", "bits", "width")), params)
    return None


@cache
def decode(word: int, params: MachineParams) -> Instr:
    """The instruction in ``word``; raises RtmapError if the hardware would trap on it."""
    if not 0 <= word < (1 << instruction_bits(params)):
        raise RtmapError(f"word {word:#x} is wider than {instruction_bits(params)} bits")
    reason = illegal_reason(word, params)
    if reason is not None:
        raise RtmapError(f"illegal instruction {word:#x}: {reason}")
    op = Opcode(_get(word, params, "opcode"))
    if op in (Opcode.SEARCH, Opcode.WRITE):
        kind, size = ("search", SEARCH_SLOTS) if op is Opcode.SEARCH else ("write", WRITE_SLOTS)
        slots = tuple(Slot(col, value) for col, value in _slots_of(word, params, kind, size))
        combine = Combine(_get(word, params, "payload.search.combine")) \
            if op is Opcode.SEARCH else Combine.SET
        return Instr(op, combine=combine, slots=slots)
    if op in (Opcode.SHIFT, Opcode.TSHIFT):
        return Instr(op, count=_get(word, params, "payload.shift.count"),
                     down=bool(_get(word, params, "payload.shift.down")))
    if op is Opcode.TQUERY:
        return Instr(op, query=_get(word, params, "payload.query.what"))
    if op is Opcode.SETROW:
        return Instr(op, row=_get(word, params, "payload.setrow.row"))
    if op is Opcode.LOAD:
        first, last = _get(word, params, "payload.io.first"), _get(word, params, "payload.io.last")
        return Instr(op, advance=bool(_get(word, params, "payload.io.advance")), first=first,
                     last=None if (first, last) == (0, params.tracks - 1) else last)
    if op is Opcode.READ:
        return Instr(op, advance=bool(_get(word, params, "payload.io.advance")))
    if op is Opcode.LOOP:
        return Instr(op, count=_get(word, params, "payload.loop.count"))
    if op is Opcode.ARITH:
        dest, src, bits, width = (_get(word, params, f"payload.arith.{name}")
                                  for name in ("dest", "src", "bits", "width"))
        return Instr(op, mode=ArithMode(_get(word, params, "payload.arith.mode")), dest=dest,
                     src=src, bits=bits, width=width)
    return Instr(op)


@cache
def micro_steps(instr: Instr, params: MachineParams) -> tuple[Instr, ...]:
    """What an ARITH does, as the SEARCH / WRITE / SHIFT instructions the controller issues
    for it one after another (docs/ISA.md): clear the carry in every row, run the mode's LUT
    passes at each of ``width`` domains from the port (full passes over the first ``bits``,
    carry/borrow or clearing passes above), stepping up one domain between them, then return
    the port. Its cycles, counters and effects are exactly those of these instructions."""
    carry = params.tracks  # flag f0

    def passes(table, columns) -> list[Instr]:
        """A domain's passes: the same instructions at every domain of a region."""
        out = []
        for key, value in table:
            out.append(Instr(Opcode.SEARCH, slots=tuple(
                Slot(c, v) for c, v in zip(columns, key, strict=True))))
            out.append(Instr(Opcode.WRITE, slots=tuple(
                Slot(c, v) for c, v in zip(columns, value, strict=False))))
        return out

    full, tail = ARITH_PASSES[instr.mode]
    full = passes(full, (carry, instr.dest, instr.src))
    tail = passes(tail, (carry, instr.dest))
    step_up = Instr(Opcode.SHIFT, count=1)
    steps = [Instr(Opcode.SEARCH), Instr(Opcode.WRITE, slots=(Slot(carry, 0),))]
    for domain in range(instr.width):
        steps += full if domain < instr.bits else tail
        if domain < instr.width - 1:
            steps.append(step_up)
    if instr.width > 1:
        steps.append(Instr(Opcode.SHIFT, count=instr.width - 1, down=True))
    return tuple(steps)


# Bits of the tag shifter's offset that one cycle of TSHIFT decides: its stages move the tags
# by one base-8 digit of the offset a cycle, registered in between, so that no cycle chains
# two of the stages' long wires across the array.
TSHIFT_DIGIT_BITS = 3


def tshift_cycles(rows: int) -> int:
    """Cycles of any TSHIFT on R rows: one per base-8 digit of the shifter's offset, which
    ranges over 1..2R-1 (R - N up, R + N down, for N < R; N >= R clears)."""
    return -(-(2 * rows - 1).bit_length() // TSHIFT_DIGIT_BITS)


def cycles_of(instr: Instr, params: MachineParams) -> int:
    """Cycles an instruction takes when it executes (stalls on the host streams excluded)."""
    if instr.op is Opcode.SHIFT:
        return instr.count * params.shift_latency
    if instr.op is Opcode.TSHIFT:
        return tshift_cycles(params.rows)
    if instr.op is Opcode.ARITH:
        return arith_counter_values(instr, params)[0]
    return 1


def arith_counts(instr: Instr, params: MachineParams) -> dict[str, int]:
    """The counters an ARITH adds: those of its micro steps."""
    return dict(zip(COUNTERS, arith_counter_values(instr, params), strict=True))


def arith_columns(instr: Instr) -> tuple[int, int]:
    """Columns an ARITH's micro steps compare and write, summed over its searches and
    writes (what the energy model charges per row): each pass's key and written bits, plus
    the carry clear's one written column."""
    return _arith_columns(instr.mode, instr.bits, instr.width)


@cache
def _arith_columns(mode: ArithMode, bits: int, width: int) -> tuple[int, int]:
    full, tail = ARITH_PASSES[mode]
    searched = bits * sum(len(k) for k, _ in full) + (width - bits) * sum(len(k) for k, _ in tail)
    written = 1 + bits * sum(len(v) for _, v in full) + (width - bits) * sum(
        len(v) for _, v in tail)
    return searched, written


def arith_counter_values(instr: Instr, params: MachineParams) -> tuple[int, ...]:
    """:func:`arith_counts` as a tuple in COUNTERS order (for counting whole programs)."""
    return _arith_counter_values(instr.mode, instr.bits, instr.width, params.shift_latency)


@cache
def _arith_counter_values(mode: ArithMode, bits: int, width: int,
                          shift_latency: int) -> tuple[int, ...]:
    full, tail = ARITH_PASSES[mode]
    passes = 1 + len(full) * bits + len(tail) * (width - bits)  # searches, and writes
    shifts = 2 * (width - 1)
    return (2 * passes + shifts * shift_latency, passes, passes, shifts, 0)
