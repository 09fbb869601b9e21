"""Scheduling a channel group's sums with common subexpressions: temporaries get tracks.

The CSE DAG (compiler/cse.py) says which signed pairs to compute once. In the array a
temporary is a value in a track of every row, so it needs a free track from its first use
to its last. This pass walks the group's channels in order and, for each, computes the
temporaries it needs that are not there yet (operands first), allocating tracks from a
pool and returning them after the last channel that depends on the temporary. When the pool
is empty, or a temporary has a single consumer (computing it saves nothing), the temporary
is expanded into its operands instead: always correct, only less shared.

Widths: a temporary is stored in two's complement at least as wide as every value it feeds
(channels' accumulators, other temporaries) and as its own range needs. Then every add of a
temporary is exact modulo the consumer's width, with no sign extension, while an input
(unsigned, ``in_bits``) is zero-extended by carry passes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .bitwidth import signed_bits
from .cse import eliminate_matrix


class Operand(NamedTuple):
    """A value in ``track``: an input (unsigned, ``bits`` wide) or a temporary (signed, at
    least as wide as anything it is added into). A named tuple: schedules of large layers
    hold millions."""

    track: int
    bits: int
    signed: bool


SignedOperand = tuple[Operand, int]  # (operand, +1 or -1)


@dataclass(frozen=True)
class Materialise:
    """Temporary in ``track`` (``bits`` wide) = the signed sum of ``terms``."""

    track: int
    bits: int
    terms: tuple[SignedOperand, ...]


@dataclass(frozen=True)
class Accumulate:
    """Channel ``position`` of the group takes the signed sum of ``terms``."""

    position: int
    terms: tuple[SignedOperand, ...]


def schedule_group(weights: np.ndarray, acc_bits: Sequence[int], in_bits: int,
                   pool: Sequence[int], *, rounds: int | None = None,
                   share: float = 1.0) -> list[Materialise | Accumulate]:
    """Operations computing each channel of ``weights`` (channels x inputs, -1/0/+1; input
    i is in track i), temporaries in tracks from ``pool``; ``rounds`` and ``share`` as for
    ``eliminate_matrix``."""
    if not pool:
        ops = []
        for k, row in enumerate(weights):
            nonzero = np.flatnonzero(row)
            ops.append(Accumulate(k, tuple((Operand(i, in_bits, False), sign) for i, sign in
                                           zip(nonzero.tolist(), row[nonzero].tolist(),
                                               strict=True))))
        return ops
    dag = eliminate_matrix(weights, rounds=rounds, share=share)
    return _Allocator(dag, acc_bits, in_bits, pool).run()


class _Allocator:
    def __init__(self, dag, acc_bits: Sequence[int], in_bits: int, pool: Sequence[int]):
        self.n, self.in_bits = dag.inputs, in_bits
        self.temps = dag.temps.tolist()
        self.channels = [c.tolist() for c in dag.channels]
        count = len(self.temps)
        self.uses = [0] * count  # consumers: channels holding it and temporaries built on it
        last = [-1] * count  # the last channel position depending on it (transitively)
        need = [1] * count  # the widest value it feeds
        for k, terms in enumerate(self.channels):
            for v, _ in terms:
                if v >= self.n:
                    self.uses[v - self.n] += 1
                    last[v - self.n] = k
                    need[v - self.n] = max(need[v - self.n], acc_bits[k])
        # Leaf counts: how many inputs each temporary adds and subtracts (its range).
        plus, minus = [0] * count, [0] * count
        for t, (a, b, s) in enumerate(self.temps):
            pa, ma = self._leaves(a, plus, minus)
            pb, mb = self._leaves(b, plus, minus)
            plus[t], minus[t] = (pa + pb, ma + mb) if s > 0 else (pa + mb, ma + pb)
        top = (1 << in_bits) - 1
        self.width = [0] * count
        for t in range(count - 1, -1, -1):  # consumers have higher indices: done first
            self.width[t] = max(signed_bits(-minus[t] * top, plus[t] * top), need[t])
            for v in self.temps[t][:2]:
                if v >= self.n:
                    u = v - self.n
                    self.uses[u] += 1
                    last[u] = max(last[u], last[t])
                    need[u] = max(need[u], self.width[t])
        self.last = last
        self.free = list(reversed(pool))  # pop() hands out the pool's first track first
        self.track_of: dict[int, int] = {}
        self.release: dict[int, list[int]] = defaultdict(list)
        self.ops: list[Materialise | Accumulate] = []

    def _leaves(self, v: int, plus: list[int], minus: list[int]) -> tuple[int, int]:
        return (1, 0) if v < self.n else (plus[v - self.n], minus[v - self.n])

    def run(self) -> list[Materialise | Accumulate]:
        for k, terms in enumerate(self.channels):
            out: list[SignedOperand] = []
            for v, sign in terms:
                self._expand(v, sign, out)
            self.ops.append(Accumulate(k, tuple(out)))
            self.free.extend(reversed(self.release.pop(k, [])))
        return self.ops

    def _expand(self, v: int, sign: int, out: list[SignedOperand]) -> None:
        """Append ``sign * v`` to ``out`` as operands in tracks, computing temporaries on the
        way. Iterative: chains of temporaries can be deeper than Python's recursion."""
        stack: list = [(v, sign, out, None)]
        while stack:
            v, sign, out, finish = stack.pop()
            if finish is not None:
                t, track, terms = finish
                self.ops.append(Materialise(track, self.width[t], tuple(terms)))
                out.append((Operand(track, self.width[t], True), sign))
            elif v < self.n:
                out.append((Operand(v, self.in_bits, False), sign))
            elif v - self.n in self.track_of:
                t = v - self.n
                out.append((Operand(self.track_of[t], self.width[t], True), sign))
            else:
                t = v - self.n
                a, b, s = self.temps[t]
                if self.uses[t] >= 2 and self.free:
                    track = self.free.pop()
                    self.track_of[t] = track
                    self.release[self.last[t]].append(track)
                    terms: list[SignedOperand] = []
                    stack += [(None, sign, out, (t, track, terms)), (b, s, terms, None),
                              (a, 1, terms, None)]
                else:
                    stack += [(b, sign * s, out, None), (a, sign, out, None)]
