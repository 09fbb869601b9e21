"""The instruction-level simulator: runs microcode on R rows x T tracks x D domains.

It executes every instruction as the hardware does, in all rows at once: a search compares
columns at the access port and combines the match with the tags, a write changes the tagged
rows, a shift moves the port. Arithmetic therefore happens bit-serially through the real LUT
passes the compiler emits. State is kept as Python integers used as row bitsets (bit r is
row r), so one instruction costs a few big-integer operations whatever R is.

The semantics, cycle costs, counters and errors are those of docs/ISA.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import RtmapError
from ..isa import (
    COUNTERS,
    Combine,
    ErrorCode,
    Instr,
    Opcode,
    Query,
    arith_counter_values,
    cycles_of,
    decode,
    illegal_reason,
    instruction_bits,
    micro_steps,
)
from ..params import COUNTER_BITS, FLAGS, LOOP_DEPTH, MachineParams

_COUNTER_MASK = (1 << COUNTER_BITS) - 1
# What reads the tracks or moves the port: queued LOADs are applied before these run.
_TOUCHES_ARRAY = frozenset({Opcode.SEARCH, Opcode.WRITE, Opcode.SHIFT, Opcode.READ,
                            Opcode.ARITH})


@dataclass
class RunResult:
    outputs: list[int] = field(default_factory=list)  # words READ pushed, in order
    counters: dict[str, int] = field(default_factory=dict)
    error: ErrorCode = ErrorCode.NONE
    pc: int = 0  # the HALT's or the faulting instruction's address
    halted: bool = False
    # Not hardware counters: columns compared by searches and written by writes, summed
    # over every search and write executed (micro steps included), for the energy model.
    activity: dict[str, int] = field(default_factory=dict)


class Machine:
    """One associative processor; its array and flags persist across runs (non-volatile)."""

    def __init__(self, params: MachineParams) -> None:
        self.params = params
        self._all = (1 << params.rows) - 1
        # _tracks[t][d]: rows whose track t holds a 1 in domain d.
        self._tracks = [[0] * params.domains for _ in range(params.tracks)]
        self._flags = [0] * FLAGS
        self._tags = 0
        self._port = 0
        self._rp = 0
        self._decoded: dict[int, Instr | str] = {}
        # LOADs waiting to be applied together (a run loads a whole column of rows in a row);
        # every other instruction applies them first. (row, word, first, last) each.
        self._pending_loads: list[tuple[int, int, int, int]] = []
        self._pending_rows: set[int] = set()
        # Every row's READ word at one port, built when a second READ finds the tracks
        # unchanged; ``_version`` counts changes to the tracks.
        self._version = 0
        self._row_words: tuple[tuple[int, int], list[int]] | None = None
        self._last_read: tuple[int, int] | None = None
        self._searched_columns = self._written_columns = 0  # this run's, see RunResult

    # -- running ------------------------------------------------------------------------------
    def run(self, words: Sequence[int], data_in: Iterable[int] = (),
            max_cycles: int | None = None) -> RunResult:
        """Start the program in ``words`` (what ``start`` does) and run it to HALT or a fault.

        ``data_in`` supplies the T-bit words LOAD consumes. A LOAD with no word left raises
        RtmapError: the hardware would wait for the host forever.
        """
        program = [self._decode(word) for word in words]
        inputs = list(data_in)
        next_input = 0
        p = self.params
        self._port, self._rp, self._tags = 0, 0, 0
        loops: list[list[int]] = []  # [first pc of the body, iterations left]
        counts = dict.fromkeys(COUNTERS, 0)
        result = RunResult(counters=counts)
        self._searched_columns = self._written_columns = 0
        pc = 0
        while True:
            if pc >= len(program):
                result.error = ErrorCode.RAN_OFF_END
                break
            instr = program[pc]
            if isinstance(instr, str):
                result.error = ErrorCode.ILLEGAL
                break
            op = instr.op
            if self._pending_loads and op in _TOUCHES_ARRAY:
                self._apply_loads()
            fault = self._fault(instr, loops)
            if fault is not ErrorCode.NONE:
                result.error = fault
                break
            if max_cycles is not None and counts["cycles"] >= max_cycles:
                self._apply_loads()
                raise RtmapError(f"program ran past max_cycles={max_cycles} (pc {pc})")
            counts["cycles"] += cycles_of(instr, p)
            next_pc = pc + 1
            if op is Opcode.SEARCH:
                self._search(instr)
                counts["searches"] += 1
            elif op is Opcode.WRITE:
                self._write(instr)
                counts["writes"] += 1
            elif op is Opcode.SHIFT:
                self._port += -instr.count if instr.down else instr.count
                counts["shifts"] += instr.count
            elif op is Opcode.SETROW:
                self._rp = instr.row
            elif op is Opcode.TSHIFT:
                shifted = self._tags >> instr.count if instr.down else self._tags << instr.count
                self._tags = shifted & self._all
            elif op is Opcode.TQUERY:
                result.outputs.append(self._query(instr.query) & ((1 << p.tracks) - 1))
                counts["io_words"] += 1
            elif op is Opcode.LOAD:
                if next_input >= len(inputs):
                    self._apply_loads()
                    raise RtmapError(f"program wants more input words than the host supplied "
                                     f"({len(inputs)} given; LOAD at pc {pc})")
                last = p.tracks - 1 if instr.last is None else instr.last
                self._load_row(self._rp, inputs[next_input], instr.first, last)
                next_input += 1
                counts["io_words"] += 1
                self._rp += instr.advance
            elif op is Opcode.READ:
                result.outputs.append(self._read_word(self._rp))
                counts["io_words"] += 1
                self._rp += instr.advance
            elif op is Opcode.LOOP:
                loops.append([pc + 1, instr.count])
            elif op is Opcode.ENDL:
                if loops[-1][1] > 1:
                    loops[-1][1] -= 1
                    next_pc = loops[-1][0]
                else:
                    loops.pop()
            elif op is Opcode.ARITH:
                self._arith(instr)  # its cycles are counted above, with every instruction's
                for name, value in zip(COUNTERS[1:], arith_counter_values(instr, p)[1:],
                                       strict=True):
                    counts[name] += value
            elif op is Opcode.HALT:
                result.halted = True
                break
            pc = next_pc
        self._apply_loads()
        result.activity = {"searched_columns": self._searched_columns,
                           "written_columns": self._written_columns}
        result.pc = pc
        result.counters = {name: value & _COUNTER_MASK for name, value in counts.items()}
        return result

    def _decode(self, word: int) -> Instr | str:
        """The instruction, or the reason it is illegal; cached per distinct word."""
        if word not in self._decoded:
            width = instruction_bits(self.params)
            if word < 0 or word >> width:
                raise RtmapError(f"program word {word:#x} is not a {width}-bit instruction")
            reason = illegal_reason(word, self.params)
            self._decoded[word] = reason if reason else decode(word, self.params)
        return self._decoded[word]

    def _fault(self, instr: Instr, loops: list) -> ErrorCode:
        """The error the instruction raises instead of executing, or NONE."""
        op = instr.op
        if op is Opcode.SHIFT:
            port = self._port - instr.count if instr.down else self._port + instr.count
            if not 0 <= port < self.params.domains:
                return ErrorCode.PORT_RANGE
        elif op is Opcode.ARITH:
            if self._port + instr.width > self.params.domains:
                return ErrorCode.PORT_RANGE
        elif op in (Opcode.LOAD, Opcode.READ):
            if self._rp >= self.params.rows:
                return ErrorCode.ROW_RANGE
        elif op is Opcode.LOOP:
            if len(loops) >= LOOP_DEPTH:
                return ErrorCode.LOOP_STACK
        elif op is Opcode.ENDL:
            if not loops:
                return ErrorCode.LOOP_STACK
        return ErrorCode.NONE

    # -- the operations, in all rows at once --------------------------------------------------
    def _column(self, col: int) -> int:
        if col < self.params.tracks:
            return self._tracks[col][self._port]
        return self._flags[col - self.params.tracks]

    def _set_column(self, col: int, rows: int) -> None:
        if col < self.params.tracks:
            self._tracks[col][self._port] = rows
            self._version += 1
        else:
            self._flags[col - self.params.tracks] = rows

    def _search(self, instr: Instr) -> None:
        self._searched_columns += len(instr.slots)
        match = self._all
        for slot in instr.slots:
            bits = self._column(slot.col)
            match &= bits if slot.value else ~bits
        match &= self._all
        combine = instr.combine
        if combine is Combine.SET:
            self._tags = match
        elif combine is Combine.AND:
            self._tags &= match
        elif combine is Combine.OR:
            self._tags |= match
        else:
            self._tags &= ~match & self._all

    def _arith(self, instr: Instr) -> None:
        """The micro steps of an add/sub, each as its instruction would run."""
        for step in micro_steps(instr, self.params):
            if step.op is Opcode.SEARCH:
                self._search(step)
            elif step.op is Opcode.WRITE:
                self._write(step)
            else:
                self._port += -step.count if step.down else step.count

    def _write(self, instr: Instr) -> None:
        self._written_columns += len(instr.slots)
        tags = self._tags
        for slot in instr.slots:  # in order: a later slot naming the same column wins
            bits = self._column(slot.col)
            self._set_column(slot.col, (bits | tags) if slot.value else (bits & ~tags))

    def _load_row(self, row: int, word: int, first: int, last: int) -> None:
        """Queue a LOAD; ``_apply_loads`` writes the queue (a row loaded twice applies the
        first load before queueing the second)."""
        if row in self._pending_rows:
            self._apply_loads()
        self._pending_loads.append((row, word, first, last))
        self._pending_rows.add(row)

    def _apply_loads(self) -> None:
        """Write the queued LOADs at the port: per track, the rows that get a 1 and those
        that get a 0, as two bitsets built with numpy."""
        if not self._pending_loads:
            return
        p = self.params
        loads, self._pending_loads = self._pending_loads, []
        self._pending_rows.clear()
        self._version += 1
        rows = np.array([load[0] for load in loads])
        nbytes = (p.tracks + 7) // 8
        raw = np.frombuffer(b"".join(load[1].to_bytes(nbytes, "little") for load in loads),
                            np.uint8).reshape(len(loads), nbytes)
        ones = np.unpackbits(raw, axis=1, bitorder="little")[:, :p.tracks].astype(bool)
        track = np.arange(p.tracks)
        written = (track >= np.array([load[2] for load in loads])[:, None]) & \
            (track <= np.array([load[3] for load in loads])[:, None])
        set_rows = np.zeros((p.tracks, p.rows), bool)
        clear_rows = np.zeros((p.tracks, p.rows), bool)
        set_rows[:, rows] = (ones & written).T
        clear_rows[:, rows] = (~ones & written).T
        for t in np.flatnonzero(written.any(axis=0)).tolist():
            column = self._tracks[t]
            column[self._port] = (column[self._port] & ~_bitset_of(clear_rows[t])) \
                | _bitset_of(set_rows[t])

    def _read_word(self, row: int) -> int:
        """What READ pushes for ``row``: straight from the tracks, or from every row's words
        built at once when the last READ saw the same port and tracks (a READ loop)."""
        key = (self._port, self._version)
        if self._row_words is not None and self._row_words[0] == key:
            return self._row_words[1][row]
        if self._last_read != key:
            self._last_read = key
            return self._read_row(row)
        p = self.params
        nbytes = (p.rows + 7) // 8
        raw = np.frombuffer(b"".join(self._tracks[t][self._port].to_bytes(nbytes, "little")
                                     for t in range(p.tracks)), np.uint8)
        bits = np.unpackbits(raw.reshape(p.tracks, nbytes), axis=1,
                             bitorder="little")[:, :p.rows]  # (T, R)
        packed = np.packbits(bits.T, axis=1, bitorder="little")  # (R, ceil(T / 8))
        words = [int.from_bytes(row_bytes.tobytes(), "little") for row_bytes in packed]
        self._row_words = (key, words)
        return words[row]

    def _query(self, query: int) -> int:
        if query == Query.COUNT.value:
            return self._tags.bit_count()
        if query == Query.FIRST.value:  # the lowest tagged row, R when none is
            return (self._tags & -self._tags).bit_length() - 1 if self._tags else self.params.rows
        return int(self._tags != 0)

    def _read_row(self, row: int) -> int:
        return sum((self._tracks[t][self._port] >> row & 1) << t
                   for t in range(self.params.tracks))

    # -- inspection and set-up (tests, differential runs against the RTL) -----------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def rp(self) -> int:
        return self._rp

    def read_value(self, row: int, track: int, bits: int | None = None,
                   signed: bool = False) -> int:
        """The value stored in ``track`` of ``row``, bit i in domain i (``bits`` of them)."""
        bits = self.params.domains if bits is None else bits
        value = sum((self._tracks[track][d] >> row & 1) << d for d in range(bits))
        if signed and value >> (bits - 1) & 1:
            value -= 1 << bits
        return value

    def write_value(self, row: int, track: int, value: int) -> None:
        """Store ``value`` (two's complement, D bits) in ``track`` of ``row``."""
        self._version += 1
        bit = 1 << row
        column = self._tracks[track]
        for d in range(self.params.domains):
            column[d] = (column[d] | bit) if value >> d & 1 else (column[d] & ~bit)

    def array(self) -> np.ndarray:
        """The tracks as a (R, T, D) uint8 array of bits."""
        p = self.params
        out = np.zeros((p.rows, p.tracks, p.domains), np.uint8)
        for t in range(p.tracks):
            for d in range(p.domains):
                out[:, t, d] = _bits_of(self._tracks[t][d], p.rows)
        return out

    def set_array(self, bits: np.ndarray) -> None:
        p = self.params
        bits = np.asarray(bits)
        if bits.shape != (p.rows, p.tracks, p.domains):
            raise RtmapError(f"array must have shape {(p.rows, p.tracks, p.domains)}, got "
                             f"{bits.shape}")
        self._version += 1
        for t in range(p.tracks):
            for d in range(p.domains):
                self._tracks[t][d] = _bitset(bits[:, t, d])

    def flag_bits(self) -> np.ndarray:
        """The flags as a (R, 2) uint8 array."""
        return np.stack([_bits_of(f, self.params.rows) for f in self._flags], axis=1)

    def set_flags(self, bits: np.ndarray) -> None:
        bits = np.asarray(bits)
        if bits.shape != (self.params.rows, FLAGS):
            raise RtmapError(f"flags must have shape {(self.params.rows, FLAGS)}, got "
                             f"{bits.shape}")
        self._flags = [_bitset(bits[:, f]) for f in range(FLAGS)]

    def tag_bits(self) -> np.ndarray:
        return _bits_of(self._tags, self.params.rows)


def _bitset_of(bits: np.ndarray) -> int:
    """A boolean vector (row r at index r) as a bitset."""
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def _bits_of(bitset: int, rows: int) -> np.ndarray:
    return np.array([bitset >> r & 1 for r in range(rows)], np.uint8)


def _bitset(column: np.ndarray) -> int:
    return sum(1 << int(r) for r in np.flatnonzero(column))
