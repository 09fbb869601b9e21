"""ISA v0: the one definition of the instruction encoding.

The hardware decoder views program words through :func:`instruction_layout`; the assembler and
the simulators encode and decode through the same layout with :func:`encode` / :func:`decode`.
Legality (:func:`illegal_reason`) and cost (:func:`cycles_of`) are defined here once as well.
``docs/ISA.md`` describes the same thing for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from amaranth.lib import data, enum

from .errors import RtmapError
from .params import MachineParams

ISA_VERSION = 0
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


class Combine(enum.Enum, shape=2):
    """How a search's match combines with the tag register."""

    SET = 0  # tag = match
    AND = 1  # tag = tag & match
    OR = 2  # tag = tag | match
    ANDN = 3  # tag = tag & ~match


class ErrorCode(enum.Enum, shape=3):
    """The controller's sticky error state (0: none)."""

    NONE = 0
    ILLEGAL = 1  # opcode 0 or 10..15, a column past the last flag, a shift or loop count of 0
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
        "shift": data.StructLayout({"down": 1, "count": params.imm_bits}),
        "setrow": data.StructLayout({"row": params.imm_bits}),
        # LOAD writes tracks first..last only (READ ignores the range).
        "io": data.StructLayout({"advance": 1, "first": params.column_bits,
                                 "last": params.column_bits}),
        "loop": data.StructLayout({"count": params.imm_bits}),
    })
    return data.StructLayout({"opcode": Opcode, "payload": payload})


def instruction_bits(params: MachineParams) -> int:
    return instruction_layout(params).size


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
    advance: bool = False  # LOAD, READ: row pointer += 1 afterwards
    first: int = 0  # LOAD: the tracks written are first..last
    last: int | None = None  # LOAD: None means the last track, T-1


def _slots_const(slots: tuple[Slot, ...], size: int, params: MachineParams) -> list[dict]:
    if len(slots) > size:
        raise RtmapError(f"at most {size} column operands allowed, got {len(slots)}")
    out = []
    for slot in slots:
        if not 0 <= slot.col < params.columns:
            raise RtmapError(f"column {slot.col} is outside 0..{params.columns - 1}")
        if slot.value not in (0, 1):
            raise RtmapError(f"column bit must be 0 or 1, got {slot.value}")
        out.append({"col": slot.col, "value": slot.value, "enable": 1})
    return out + [{"col": 0, "value": 0, "enable": 0}] * (size - len(slots))


def _check_imm(name: str, value: int, params: MachineParams, low: int = 0) -> int:
    high = (1 << params.imm_bits) - 1
    if not low <= value <= high:
        raise RtmapError(f"{name} {value} is outside {low}..{high}")
    return value


def encode(instr: Instr, params: MachineParams) -> int:
    """The program word for ``instr``; raises RtmapError for anything illegal."""
    op = instr.op
    if op is Opcode.SEARCH:
        payload = {"search": {"combine": instr.combine,
                              "slots": _slots_const(instr.slots, SEARCH_SLOTS, params)}}
    elif op is Opcode.WRITE:
        if not instr.slots:
            raise RtmapError("write needs at least one column operand")
        payload = {"write": {"slots": _slots_const(instr.slots, WRITE_SLOTS, params)}}
    elif op is Opcode.SHIFT:
        payload = {"shift": {"down": int(instr.down),
                             "count": _check_imm("shift count", instr.count, params, 1)}}
    elif op is Opcode.SETROW:
        payload = {"setrow": {"row": _check_imm("row", instr.row, params)}}
    elif op is Opcode.LOAD:
        last = params.tracks - 1 if instr.last is None else instr.last
        if not 0 <= instr.first <= last < params.tracks:
            raise RtmapError(f"load tracks t{instr.first}..t{last} are not a range within "
                             f"t0..t{params.tracks - 1}")
        payload = {"io": {"advance": int(instr.advance), "first": instr.first, "last": last}}
    elif op is Opcode.READ:
        payload = {"io": {"advance": int(instr.advance)}}
    elif op is Opcode.LOOP:
        payload = {"loop": {"count": _check_imm("loop count", instr.count, params, 1)}}
    else:
        payload = {"io": {"advance": 0}}  # HALT, ENDL: no operands, all zero
    const = instruction_layout(params).const({"opcode": op, "payload": payload})
    return const.as_bits()


def illegal_reason(word: int, params: MachineParams) -> str | None:
    """Why the hardware would trap on ``word`` as ILLEGAL, or None if it is legal."""
    opcode = word & ((1 << OPCODE_BITS) - 1)  # the layout's first field
    if opcode not in {op.value for op in Opcode}:
        return f"unknown opcode {opcode}"
    view = instruction_layout(params).from_bits(word)
    op = view.opcode
    if op in (Opcode.SEARCH, Opcode.WRITE):
        slots = view.payload.search.slots if op is Opcode.SEARCH else view.payload.write.slots
        for index in range(len(slots)):
            if slots[index].enable and slots[index].col >= params.columns:
                return f"column {slots[index].col} is outside 0..{params.columns - 1}"
    if op is Opcode.SHIFT and view.payload.shift.count == 0:
        return "shift count 0"
    if op is Opcode.LOOP and view.payload.loop.count == 0:
        return "loop count 0"
    if op is Opcode.LOAD:
        first, last = int(view.payload.io.first), int(view.payload.io.last)
        if not first <= last < params.tracks:
            return f"load tracks {first}..{last} are not a range within 0..{params.tracks - 1}"
    return None


def decode(word: int, params: MachineParams) -> Instr:
    """The instruction in ``word``; raises RtmapError if the hardware would trap on it."""
    if not 0 <= word < (1 << instruction_bits(params)):
        raise RtmapError(f"word {word:#x} is wider than {instruction_bits(params)} bits")
    reason = illegal_reason(word, params)
    if reason is not None:
        raise RtmapError(f"illegal instruction {word:#x}: {reason}")
    view = instruction_layout(params).from_bits(word)
    op = view.opcode
    if op in (Opcode.SEARCH, Opcode.WRITE):
        raw = view.payload.search.slots if op is Opcode.SEARCH else view.payload.write.slots
        slots = tuple(Slot(int(raw[i].col), int(raw[i].value))
                      for i in range(len(raw)) if raw[i].enable)
        combine = view.payload.search.combine if op is Opcode.SEARCH else Combine.SET
        return Instr(op, combine=combine, slots=slots)
    if op is Opcode.SHIFT:
        return Instr(op, count=int(view.payload.shift.count), down=bool(view.payload.shift.down))
    if op is Opcode.SETROW:
        return Instr(op, row=int(view.payload.setrow.row))
    if op is Opcode.LOAD:
        first, last = int(view.payload.io.first), int(view.payload.io.last)
        return Instr(op, advance=bool(view.payload.io.advance), first=first,
                     last=None if (first, last) == (0, params.tracks - 1) else last)
    if op is Opcode.READ:
        return Instr(op, advance=bool(view.payload.io.advance))
    if op is Opcode.LOOP:
        return Instr(op, count=int(view.payload.loop.count))
    return Instr(op)


def cycles_of(instr: Instr, params: MachineParams) -> int:
    """Cycles an instruction takes when it executes (stalls on the host streams excluded)."""
    if instr.op is Opcode.SHIFT:
        return instr.count * params.shift_latency
    return 1
