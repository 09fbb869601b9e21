"""Small independent NumPy models of the hardware blocks, and random programs for them.

Written from docs/ISA.md, not from hw/: the array is a (D, R, T) bit cube plus (R, 2) flags;
the tag logic is a boolean vector; the machine interprets decoded instructions one by one,
matching search slots column by column (the hardware turns slots into a key and a mask).
Used by the Amaranth-simulator tests and by the cocotb benches alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtmap.isa import (
    ArithMode,
    Combine,
    ErrorCode,
    Instr,
    Opcode,
    Query,
    Slot,
    decode,
    encode,
    field_offsets,
    illegal_reason,
    instruction_layout,
    micro_steps,
)
from rtmap.params import FLAGS, LOOP_DEPTH, MachineParams

COUNTERS = ("cycles", "searches", "writes", "shifts", "io_words")
MASK32 = (1 << 32) - 1


def to_bits(value: int, width: int) -> np.ndarray:
    return np.array([(int(value) >> i) & 1 for i in range(width)], dtype=np.uint8)


def random_word(rng: np.random.Generator, width: int) -> int:
    """``width`` random bits (any width: numpy's integers stop at 64 bits)."""
    return from_bits(rng.integers(0, 2, width))


def from_bits(bits) -> int:
    return sum(int(b) << i for i, b in enumerate(bits))


class ArrayModel:
    """The RTM-CAM array: tracks[d, r, t] is domain d of track t of row r."""

    def __init__(self, rows: int, tracks: int, domains: int):
        self.rows, self.tracks, self.domains = rows, tracks, domains
        self.bits = np.zeros((domains, rows, tracks), dtype=np.uint8)
        self.flags = np.zeros((rows, FLAGS), dtype=np.uint8)
        self.port = 0

    def columns(self) -> np.ndarray:
        """(R, T + 2) bits at the port: tracks, then flags."""
        return np.concatenate([self.bits[self.port], self.flags], axis=1)

    def match(self, key: int, mask: int) -> np.ndarray:
        width = self.tracks + FLAGS
        cols = self.columns()
        miss = (cols ^ to_bits(key, width)) & to_bits(mask, width)
        return ~miss.any(axis=1)

    def write(self, rows, mask: int, value: int) -> None:
        width = self.tracks + FLAGS
        rows = np.asarray(rows, dtype=bool)
        m, v = to_bits(mask, width).astype(bool), to_bits(value, width)
        cols = self.columns()
        cols[np.ix_(rows, m)] = v[m]
        self.bits[self.port], self.flags = cols[:, :self.tracks], cols[:, self.tracks:]

    def load(self, row: int, word: int, mask: int | None = None) -> None:
        """Tracks whose ``mask`` bit is set (all without a mask) take ``word``'s bits."""
        keep = to_bits(0 if mask is None else ~mask, self.tracks).astype(bool)
        self.bits[self.port, row] = np.where(keep, self.bits[self.port, row],
                                             to_bits(word, self.tracks))

    def read(self, row: int) -> int:
        return from_bits(self.bits[self.port, row])

    def shift_to(self, port: int) -> None:
        assert 0 <= port < self.domains
        self.port = port


# The array's issued inputs (and write_rows) at rest, by name.
ARRAY_IDLE = {"search_key": 0, "search_mask": 0, "search_void": 0, "row": 0, "write_en": 0,
              "write_mask": 0, "write_value": 0, "write_rows": 0, "load_en": 0, "load_data": 0,
              "load_mask": 0, "shift_en": 0, "shift_to": 0}


def apply_array_op(model: ArrayModel, op: dict) -> None:
    """Apply one executed array operation to the model (shift wins over load over write).
    One issued with ``rst`` high (``op["reset"]``) is cancelled."""
    if op.get("reset"):
        return
    if op["shift_en"]:
        model.shift_to(op["shift_to"])
    elif op["load_en"]:
        model.load(op["row"], op["load_data"], op["load_mask"])
    elif op["write_en"]:
        model.write([(op["write_rows"] >> r) & 1 for r in range(model.rows)], op["write_mask"],
                    op["write_value"])


class TagModel:
    def __init__(self, rows: int):
        self.tags = np.zeros(rows, dtype=bool)

    def update(self, combine: Combine, match) -> None:
        match = np.asarray(match, dtype=bool)
        self.tags = {
            Combine.SET: match,
            Combine.AND: self.tags & match,
            Combine.OR: self.tags | match,
            Combine.ANDN: self.tags & ~match,
        }[Combine(combine)].copy()

    def clear(self) -> None:
        self.tags[:] = False

    def shift(self, count: int, down: bool) -> None:
        """Tags move ``count`` rows toward row 0 (down) or row R-1 (up); zeros come in."""
        moved = np.zeros_like(self.tags)
        rows = len(self.tags)
        if count < rows:
            if down:
                moved[:rows - count] = self.tags[count:]
            else:
                moved[count:] = self.tags[:rows - count]
        self.tags = moved

    def first(self) -> tuple[bool, int]:
        hits = np.flatnonzero(self.tags)
        return (True, int(hits[0])) if len(hits) else (False, 0)


def tshift_cycles(rows: int) -> int:
    """Cycles of a TSHIFT on ``rows`` rows: one per octal digit of the largest shifter offset,
    2R - 1 (the tags move by R - N or R + N, one base-8 digit a cycle)."""
    return len(np.base_repr(2 * rows - 1, 8))


TAG_CONTROLS = ("combine", "update", "clear", "shift", "shift_down", "shift_count")


def random_tag_ops(rng: np.random.Generator, rows: int, count: int, quiet: int,
                   reset_rate: float = 0.0):
    """``count`` random TagLogic operations, one per cycle, then ``quiet`` that do nothing:
    dicts of its inputs (:data:`TAG_CONTROLS`; ``match`` for the execute cycle; ``reset``,
    rst high in the issue cycle, at ``reset_rate``) and ``lands``, the shift (count, down)
    that ends in that cycle, if any. A shift is followed by the cycles it takes, in which
    nothing is issued; a reset in any of them cancels it."""
    step = 0
    while step < count + quiet:
        density = float(rng.choice([0.05, 0.5, 0.95]))  # sparse too, for the encoder
        op = {"where": f"step {step}", "match": rng.random(rows) < density,
              "reset": bool(step < count and rng.random() < reset_rate),
              "combine": Combine(int(rng.integers(0, 4))),
              "update": bool(rng.random() < 0.5), "clear": bool(rng.random() < 0.08),
              "shift": bool(rng.random() < 0.4), "shift_down": bool(rng.integers(0, 2)),
              # strides past the last row too
              "shift_count": int(rng.integers(0, min(2 * rows + 2, 256))), "lands": None}
        if step >= count:
            op.update(update=False, clear=False, shift=False)
        ops = [op]
        if op["shift"] and not (op["update"] or op["clear"]):
            ops += [dict(op, where=f"step {step + i}", match=rng.random(rows) < 0.5,
                         shift=False, reset=bool(rng.random() < reset_rate))
                    for i in range(1, tshift_cycles(rows))]
            if not any(o["reset"] for o in ops):
                ops[-1]["lands"] = (op["shift_count"], op["shift_down"])
        yield from ops
        step += len(ops)


def every_tag_shift(rng: np.random.Generator, rows: int, quiet: int):
    """Ops as :func:`random_tag_ops` makes them: for every count 0..R+1, down and up, an
    update setting random tags, then the shift by that count and the cycles it takes; then
    ``quiet`` that do nothing."""
    idle = {"reset": False, "combine": Combine.SET, "update": False, "clear": False,
            "shift": False, "shift_down": False, "shift_count": 0, "lands": None}
    cycles = tshift_cycles(rows)
    for down in (True, False):
        for count in range(rows + 2):
            where = f"shift by {count} {'down' if down else 'up'}"
            yield dict(idle, where=f"{where}: set", match=rng.random(rows) < 0.5, update=True)
            shift = dict(idle, shift=True, shift_down=down, shift_count=count)
            for i in range(cycles):
                yield dict(shift, where=f"{where}, cycle {i}", match=rng.random(rows) < 0.5,
                           shift=i == 0, lands=(count, down) if i == cycles - 1 else None)
    for i in range(quiet):
        yield dict(idle, where=f"quiet {i}", match=np.zeros(rows, dtype=bool))


def apply_tag_op(model: TagModel, op: dict) -> None:
    """Carry out one cycle of :func:`random_tag_ops` on the model (clear, then update, win;
    ``rst`` is a clear)."""
    if op["clear"] or op["reset"]:
        model.clear()
    elif op["update"]:
        model.update(op["combine"], op["match"])
    elif op["lands"]:
        model.shift(*op["lands"])


@dataclass
class RunResult:
    outputs: list[int]
    counters: dict[str, int]
    error: ErrorCode  # NONE: ended with halt
    consumed: int  # data_in words taken
    trace: list[int] = field(default_factory=list)  # pcs executed, for debugging


class Starved(Exception):
    """The program wants more data_in words than the test supplied."""


def run_machine(words: list[int], params: MachineParams, inputs: list[int],
                array: ArrayModel | None = None, max_steps: int = 100_000) -> RunResult:
    """One run from ``start`` (pc 0, port 0, tags clear, rp 0, no loops, counters 0)."""
    R, D = params.rows, params.domains
    array = array or ArrayModel(R, params.tracks, D)
    array.shift_to(0)
    tags = np.zeros(R, dtype=bool)
    counters = dict.fromkeys(COUNTERS, 0)
    loops: list[list[int]] = []
    outputs: list[int] = []
    pc = rp = consumed = 0
    trace = []
    error = ErrorCode.NONE
    for _ in range(max_steps):
        if pc >= len(words):
            error = ErrorCode.RAN_OFF_END
            break
        if illegal_reason(words[pc], params) is not None:
            error = ErrorCode.ILLEGAL
            break
        ins = decode(words[pc], params)
        trace.append(pc)
        op, cost, nxt = ins.op, 1, pc + 1
        if op is Opcode.HALT:
            counters["cycles"] += 1
            break
        if op is Opcode.SEARCH:
            cols = array.columns()
            match = np.ones(R, dtype=bool)
            for slot in ins.slots:
                match &= cols[:, slot.col] == slot.value
            tags = {Combine.SET: match, Combine.AND: tags & match, Combine.OR: tags | match,
                    Combine.ANDN: tags & ~match}[ins.combine]
            counters["searches"] += 1
        elif op is Opcode.WRITE:
            cols = array.columns()
            for slot in ins.slots:
                cols[tags, slot.col] = slot.value
            array.bits[array.port], array.flags = cols[:, :params.tracks], cols[:, params.tracks:]
            counters["writes"] += 1
        elif op is Opcode.SHIFT:
            new = array.port - ins.count if ins.down else array.port + ins.count
            if not 0 <= new < D:
                error = ErrorCode.PORT_RANGE
                break
            array.shift_to(new)
            counters["shifts"] += ins.count
            cost = ins.count * params.shift_latency
        elif op is Opcode.SETROW:
            rp = ins.row
        elif op is Opcode.TSHIFT:
            model = TagModel(R)
            model.tags = tags.copy()
            model.shift(ins.count, ins.down)
            tags = model.tags
            cost = tshift_cycles(R)
        elif op is Opcode.TQUERY:
            hits = np.flatnonzero(tags)
            value = {Query.COUNT: len(hits), Query.FIRST: int(hits[0]) if len(hits) else R,
                     Query.ANY: int(len(hits) > 0)}[Query(ins.query)]
            outputs.append(value % (1 << params.tracks))
            counters["io_words"] += 1
        elif op in (Opcode.LOAD, Opcode.READ):
            if rp >= R:
                error = ErrorCode.ROW_RANGE
                break
            if op is Opcode.LOAD:
                if consumed >= len(inputs):
                    raise Starved(f"pc {pc}")
                last = params.tracks - 1 if ins.last is None else ins.last
                array.load(rp, inputs[consumed], ((1 << (last + 1)) - 1) >> ins.first << ins.first)
                consumed += 1
            else:
                outputs.append(array.read(rp))
            counters["io_words"] += 1
            rp += int(ins.advance)
        elif op is Opcode.ARITH:
            if array.port + ins.width > D:
                error = ErrorCode.PORT_RANGE
                break
            cost = arith(array, ins, tags, counters, params.shift_latency)
        elif op is Opcode.LOOP:
            if len(loops) == LOOP_DEPTH:
                error = ErrorCode.LOOP_STACK
                break
            loops.append([pc + 1, ins.count])
        elif op is Opcode.ENDL:
            if not loops:
                error = ErrorCode.LOOP_STACK
                break
            if loops[-1][1] > 1:
                loops[-1][1] -= 1
                nxt = loops[-1][0]
            else:
                loops.pop()
        counters["cycles"] += cost
        pc = nxt
    else:
        raise RuntimeError(f"no halt within {max_steps} instructions")
    return RunResult(outputs, {k: v & MASK32 for k, v in counters.items()}, error, consumed,
                     trace)


def arith(array: ArrayModel, ins: Instr, tags: np.ndarray, counters: dict,
          shift_latency: int) -> int:
    """An add/sub/mov as values (docs/ISA.md): dest = dest + src, dest - src or src, mod
    2**width; f0 = the carry (borrow) out, 0 after a mov; tags = the rows the last LUT pass
    matched. Updates ``tags`` in place and the counters; returns the cycles."""
    lo, width, bits = array.port, ins.width, ins.bits
    weights = 1 << np.arange(width, dtype=np.int64)
    b = (array.bits[lo:lo + width, :, ins.dest].T * weights).sum(axis=1)
    a = (array.bits[lo:lo + bits, :, ins.src].T * weights[:bits]).sum(axis=1)
    top = 1 << (width - 1)
    b_top, a_top = (b >> (width - 1)) & 1, (a >> (width - 1)) & 1
    if ins.mode is ArithMode.MOV:
        # The last pass at the top domain: (C, B, A) = (0, 1, 0), or above the source's bits
        # (where A is 0) (C, B) = (0, 1).
        tags[:] = (b_top == 1) & (a_top == 0)
        result, carry_out = a, np.zeros_like(a, bool)
        full_passes, tail_passes = 2, 1
    else:
        sub = ins.mode is ArithMode.SUB
        if sub:
            carry_out, carry_in = b < a, b % top < a % top
        else:
            carry_out, carry_in = (b + a) >= 1 << width, (b % top + a % top) >= top
        # The last pass at the top domain: add (C, B, A) = (1, 1, 0), sub (1, 0, 0); above
        # the source's bits A is 0 and the carry passes end with (C, B) = (1, 1), borrow
        # (1, 0).
        tags[:] = carry_in & (b_top == (0 if sub else 1)) & (a_top == 0)
        result = (b - a if sub else b + a) % (1 << width)
        full_passes, tail_passes = 4, 2
    array.bits[lo:lo + width, :, ins.dest] = (result[None, :] >> np.arange(width)[:, None]) & 1
    array.flags[:, 0] = carry_out
    passes = 1 + full_passes * bits + tail_passes * (width - bits)
    counters["searches"] += passes
    counters["writes"] += passes
    counters["shifts"] += 2 * (width - 1)
    return 2 * passes + 2 * (width - 1) * shift_latency


# -- programs ----------------------------------------------------------------------------------

def enc(params: MachineParams, *instrs: Instr) -> list[int]:
    return [encode(i, params) for i in instrs]


def search(*slots: tuple[int, int], combine: Combine = Combine.SET) -> Instr:
    return Instr(Opcode.SEARCH, combine=combine, slots=tuple(Slot(c, v) for c, v in slots))


def write(*slots: tuple[int, int]) -> Instr:
    return Instr(Opcode.WRITE, slots=tuple(Slot(c, v) for c, v in slots))


def shift(count: int) -> Instr:
    return Instr(Opcode.SHIFT, count=abs(count), down=count < 0)


def op(code: Opcode, **kw) -> Instr:
    return Instr(code, **kw)


def fill_program(params: MachineParams) -> list[Instr]:
    """Load every row at every domain from data_in (port 0 before and after)."""
    R, D = params.rows, params.domains
    out: list[Instr] = []
    for d in range(D):
        out += [op(Opcode.SETROW, row=0), op(Opcode.LOOP, count=R),
                op(Opcode.LOAD, advance=True), op(Opcode.ENDL)]
        if d < D - 1:
            out.append(shift(1))
    if D > 1:
        out.append(shift(-(D - 1)))
    # The flags too, so that a program's results never depend on an earlier run's.
    out += [search(), write((params.tracks, 0), (params.tracks + 1, 0))]
    return out


def dump_program(params: MachineParams, port: int) -> list[Instr]:
    """Read every row at every domain (port back to 0 first), then the flags through track 0."""
    R, D, T = params.rows, params.domains, params.tracks
    out: list[Instr] = [shift(-port)] if port else []
    for d in range(D):
        out += [op(Opcode.SETROW, row=0), op(Opcode.LOOP, count=R),
                op(Opcode.READ, advance=True), op(Opcode.ENDL)]
        if d < D - 1:
            out.append(shift(1))
    if D > 1:
        out.append(shift(-(D - 1)))
    for flag in (T, T + 1):
        out += [search((flag, 1)), write((0, 1)), search((flag, 0)), write((0, 0)),
                op(Opcode.SETROW, row=0), op(Opcode.LOOP, count=R),
                op(Opcode.READ, advance=True), op(Opcode.ENDL)]
    return out


def random_arith(rng: np.random.Generator, params: MachineParams,
                 room: int | None = None) -> Instr:
    """A legal add/sub/mov (needs 2 tracks) at most ``room`` domains wide (default: D)."""
    dest, src = (int(t) for t in rng.choice(params.tracks, 2, replace=False))
    width = int(rng.integers(1, (params.domains if room is None else room) + 1))
    return Instr(Opcode.ARITH, mode=list(ArithMode)[rng.integers(0, 3)], dest=dest, src=src,
                 bits=int(rng.integers(1, width + 1)), width=width)


def arith_cycles(instr: Instr, params: MachineParams) -> list[tuple]:
    """What the add/sub sequencer should drive in each cycle of ``instr``, from the ISA's
    list of its micro steps: ("search" | "write", key, mask), ("up", 1) or ("back", n) in
    a shift's first cycle, ("wait",) in its others."""
    cycles: list[tuple] = []
    for step in micro_steps(instr, params):
        if step.op is Opcode.SHIFT:
            cycles.append(("back" if step.down else "up", step.count))
            cycles += [("wait",)] * (step.count * params.shift_latency - 1)
        else:
            mask = key = 0
            for slot in step.slots:
                mask |= 1 << slot.col
                key = key & ~(1 << slot.col) | slot.value << slot.col
            cycles.append((step.op.name.lower(), key, mask))
    return cycles


def random_program(rng: np.random.Generator, params: MachineParams, length: int = 30,
                   faults: bool = False) -> list[int]:
    """A random legal program (loops nested, port kept in range, rows in range) between a fill
    and a dump of the whole array, then halt. With ``faults``, one random faulting word or
    instruction may be put anywhere."""
    R, D, W = params.rows, params.domains, params.columns
    code: list[Instr] = []
    state = {"port": 0, "rp": 0}

    def slots(n_max):
        n = int(rng.integers(0, n_max + 1))
        return tuple((int(rng.integers(0, W)), int(rng.integers(0, 2))) for _ in range(n))

    def simple(in_loop: bool) -> list[Instr]:
        kind = rng.choice(["search", "write", "io", "setrow", "shift", "tags", "arith"],
                          p=[0.27, 0.25, 0.14, 0.1, 0.1, 0.08, 0.06])
        if kind == "arith":  # an add or subtract that fits above the port
            if params.tracks < 2:
                return [search()]
            return [random_arith(rng, params, room=D - state["port"])]
        if kind == "tags":  # move the tags by a stride (also past the last row), or query them
            if rng.random() < 0.6:
                count = int(rng.integers(1, R + 3))
                return [op(Opcode.TSHIFT, count=min(count, (1 << params.imm_bits) - 1),
                           down=bool(rng.integers(0, 2)))]
            return [op(Opcode.TQUERY, query=int(rng.integers(0, 3)))]
        if kind == "search":
            return [search(*slots(3), combine=Combine(int(rng.integers(0, 4))))]
        if kind == "write":
            s = slots(2)
            return [write(*(s or ((int(rng.integers(0, W)), 1),)))]
        if kind == "setrow":
            # Loop bodies never advance the row pointer, so the last setrow of a body is also
            # the row pointer after the loop.
            state["rp"] = int(rng.integers(0, R))
            return [op(Opcode.SETROW, row=state["rp"])]
        if kind == "io":
            out = []
            if state["rp"] >= R:
                state["rp"] = int(rng.integers(0, R))
                out.append(op(Opcode.SETROW, row=state["rp"]))
            code_ = Opcode.LOAD if rng.random() < 0.5 else Opcode.READ
            advance = not in_loop and state["rp"] < R - 1 and rng.random() < 0.7
            state["rp"] += int(advance)
            if code_ is Opcode.LOAD and rng.random() < 0.5:  # a load of some tracks only
                first = int(rng.integers(0, params.tracks))
                last = int(rng.integers(first, params.tracks))
                return out + [op(code_, advance=advance, first=first, last=last)]
            return out + [op(code_, advance=advance)]
        # shift: outside loops a random legal move; inside, an excursion that comes back
        port = state["port"]
        if D == 1:
            return [search()]
        if in_loop:
            if port < D - 1:
                k = int(rng.integers(1, D - port))
                return [shift(k), search(*slots(2)), write((int(rng.integers(0, W)), 1)),
                        shift(-k)]
            return [shift(-1), shift(1)]
        target = int(rng.integers(0, D))
        if target == port:
            target = (port + 1) % D
        state["port"] = target
        return [shift(target - port)]

    def block(n: int, depth: int) -> list[Instr]:
        out: list[Instr] = []
        while len(out) < n:
            if depth < LOOP_DEPTH and rng.random() < 0.12:
                body = block(int(rng.integers(0, 5)), depth + 1)
                out += [op(Opcode.LOOP, count=int(rng.integers(1, 4))), *body, op(Opcode.ENDL)]
            else:
                out += simple(depth > 0)
        return out

    code = fill_program(params)
    state["rp"] = R
    code += block(length, 0)
    code += dump_program(params, state["port"])
    code.append(op(Opcode.HALT))
    words = [encode(i, params) for i in code]
    if faults and rng.random() < 0.8:
        where = int(rng.integers(0, len(words)))
        words[where] = random_fault(rng, params)
    return words


def random_fault(rng: np.random.Generator, params: MachineParams) -> int:
    """A word that is illegal, or an instruction that faults in most states."""
    ib = params.imm_bits
    choice = int(rng.integers(0, 8))
    if choice == 0:  # unknown opcode, random operand bits (within the instruction width)
        operands = int(rng.integers(0, 1 << (instruction_layout(params).size - 4)))
        return int(rng.choice([0, 13, 14, 15])) | operands << 4
    if choice == 1 and (1 << params.column_bits) > params.columns:  # column past the flags
        bad = {"col": params.columns, "value": 1, "enable": 1}
        return instruction_layout(params).const(
            {"opcode": Opcode.WRITE, "payload": {"write": {"slots": [bad, bad]}}}).as_bits()
    if choice == 2:  # shift count 0 (either direction) or loop count 0
        return int(rng.choice([Opcode.SHIFT.value, Opcode.SHIFT.value | 1 << 4,
                               Opcode.LOOP.value]))
    if choice == 3:
        return encode(shift(int(rng.integers(1, 1 << ib))), params)
    if choice == 5 and params.tracks > 1:  # add/sub wider than the domains above the port
        return encode(op(Opcode.ARITH, dest=0, src=1, bits=1, width=params.domains), params)
    if choice == 6:  # add/sub of a track into itself, of no bits, or of the unknown mode 3
        which = rng.random()
        if which < 1 / 3 and params.tracks > 1:
            return arith_mode_3(params)
        arith_ = {"dest": 0, "src": 0, "bits": 1, "width": 1} if which < 2 / 3 else \
            {"dest": 0, "src": 1, "bits": 0, "width": 1}
        return instruction_layout(params).const(
            {"opcode": Opcode.ARITH, "payload": {"arith": arith_}}).as_bits()
    if choice == 4:
        return encode(op(Opcode.SETROW, row=int(rng.integers(params.rows, 1 << ib))), params)
    return encode(op(Opcode.ENDL), params)


def arith_mode_3(params: MachineParams) -> int:
    """``add t0 t1 1/1`` with its mode field set to the unused value 3."""
    offset, _ = field_offsets(params)["payload.arith.mode"]
    return encode(op(Opcode.ARITH, dest=0, src=1, bits=1, width=1), params) | 3 << offset


def add_sub_program(params, a, b, bits, subtract=False):
    """Hand-assembled B <- B + A (or B - A) on ``bits``-bit values, A in track a, B in track b;
    loads both operands from data_in and reads B back. Needs ``domains > bits``: every pass
    ends with ``shift up 1``."""
    R, T = params.rows, params.tracks
    c = T  # carry / borrow in f0
    if subtract:
        lut = [((0, 0, 1), (1, 1)), ((0, 1, 1), (0, 0)), ((1, 1, 0), (0, 0)),
               ((1, 0, 0), (1, 1))]
    else:
        lut = [((0, 1, 1), (1, 0)), ((0, 0, 1), (0, 1)), ((1, 0, 0), (0, 1)),
               ((1, 1, 0), (1, 0))]
    code: list[Instr] = []
    for _ in range(bits):
        code += [op(Opcode.SETROW, row=0), op(Opcode.LOOP, count=R),
                 op(Opcode.LOAD, advance=True), op(Opcode.ENDL), shift(1)]
    code += [shift(-bits), search(), write((c, 0)), op(Opcode.LOOP, count=bits)]
    for (kc, kb, ka), (wc, wb) in lut:
        code += [search((c, kc), (b, kb), (a, ka)), write((c, wc), (b, wb))]
    code += [shift(1), op(Opcode.ENDL), shift(-bits)]
    for _ in range(bits):
        code += [op(Opcode.SETROW, row=0), op(Opcode.LOOP, count=R),
                 op(Opcode.READ, advance=True), op(Opcode.ENDL), shift(1)]
    code += [shift(-bits), op(Opcode.HALT)]
    return code


def add_sub_counters(params, bits):
    """The counters of add_sub_program, by hand."""
    R, lat = params.rows, params.shift_latency
    io_phase = bits * (2 + 2 * R + lat)  # setrow, loop, R x (load|read, endl), shift 1
    cycles = (io_phase + bits * lat + 2 + 1 + bits * (8 + lat + 1) + bits * lat
              + io_phase + bits * lat + 1)
    return {"cycles": cycles, "searches": 1 + 4 * bits, "writes": 1 + 4 * bits,
            "shifts": 6 * bits, "io_words": 2 * R * bits}


def error_cases(params: MachineParams) -> dict[str, tuple[list[int], ErrorCode, dict]]:
    """name: (program words, the error it ends with, its nonzero counters), one or more per
    error code, with the counters worked out by hand."""
    R, D, lat = params.rows, params.domains, params.shift_latency
    loop = op(Opcode.LOOP, count=2)
    if D > 1:
        port_up = (enc(params, shift(D - 1), shift(1)), ErrorCode.PORT_RANGE,
                   {"cycles": (D - 1) * lat, "shifts": D - 1})
    else:
        port_up = (enc(params, shift(1)), ErrorCode.PORT_RANGE, {})
    cases = {}
    if params.tracks > 1 and D > 1:  # an add/sub reaching past the last domain
        cases["arith_port"] = (enc(params, shift(1), op(Opcode.ARITH, dest=0, src=1, bits=1,
                                                        width=D)),
                               ErrorCode.PORT_RANGE, {"cycles": lat, "shifts": 1})
    if params.tracks > 1:
        cases["arith_self"] = (enc(params, search()) + [instruction_layout(params).const(
            {"opcode": Opcode.ARITH, "payload": {"arith": {
                "dest": 1, "src": 1, "bits": 1, "width": 1}}}).as_bits()],
            ErrorCode.ILLEGAL, {"cycles": 1, "searches": 1})
        cases["arith_mode"] = (enc(params, search()) + [arith_mode_3(params)],
                               ErrorCode.ILLEGAL, {"cycles": 1, "searches": 1})
    return cases | {
        "illegal_zero": ([0], ErrorCode.ILLEGAL, {}),
        "illegal_after_search": (enc(params, search()) + [15], ErrorCode.ILLEGAL,
                                 {"cycles": 1, "searches": 1}),
        "port_down": (enc(params, shift(-1)), ErrorCode.PORT_RANGE, {}),
        "port_up": port_up,
        "row_read": (enc(params, op(Opcode.SETROW, row=R), op(Opcode.READ)),
                     ErrorCode.ROW_RANGE, {"cycles": 1}),
        "row_load_big": (enc(params, op(Opcode.SETROW, row=255), op(Opcode.LOAD)),
                         ErrorCode.ROW_RANGE, {"cycles": 1}),
        "ran_off_end": (enc(params, search(), write((0, 1))), ErrorCode.RAN_OFF_END,
                        {"cycles": 2, "searches": 1, "writes": 1}),
        "empty": ([], ErrorCode.RAN_OFF_END, {}),
        # (The word after the last of a memory of 2^n words must not be word 0 again.)
        "ran_off_full_memory": (enc(params, *[search()] * params.program_depth),
                                ErrorCode.RAN_OFF_END,
                                {"cycles": params.program_depth,
                                 "searches": params.program_depth}),
        "endl_alone": (enc(params, op(Opcode.ENDL)), ErrorCode.LOOP_STACK, {}),
        "five_loops": (enc(params, loop, loop, loop, loop, loop), ErrorCode.LOOP_STACK,
                       {"cycles": 4}),
    }
