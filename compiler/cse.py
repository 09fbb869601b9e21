"""Common subexpression elimination over folded ternary sums (issue #4).

Every output channel is a signed sum of inputs. A signed pair ``x + s*y`` that occurs in several
channels with the same relative sign is computed once, as a temporary, and each of those
channels uses it with its own sign (``-x - y`` is ``-(x + y)``, ``y - x`` is ``-(x - y)``).
Temporaries pair again, so larger shared patterns grow out of repeated pairing.

The result is a DAG: temporaries ``t = left + sign*right`` over inputs and earlier
temporaries, and per channel a signed list of inputs and temporaries whose sum is the channel.
Its cost in two-operand adds/subtracts is ``len(temporaries) + sum(max(len(channel) - 1, 0))``
(a copy or a negation is not an add).

How pairs are chosen (``_Greedy``):

* always a pair of the highest count (count c saves c - 1 adds);
* among those, the pair whose busier variable occurs in the fewest channels, then the one whose
  other variable does: a rarely used variable has few other partners, so taking it first, like
  a matching that serves its lowest-degree vertices first, destroys fewer future pairs. On
  random ternary matrices this alone takes about 2% off plain first-found greedy;
* then an improvement loop (``_improve``): ruin and recreate. Dissolve a random few percent
  of the temporaries (and everything built on them) back into their channels and run the
  greedy again from there, with randomised tie-breaks; keep the result when it is no worse.
  Deterministic: a seeded generator, and a number of rounds fixed by the problem size.

A pair's count is a popcount over bit sets of the channels holding each variable (and those
where it is negative); the starting counts come from two matrix products. A pair's count
never grows once it exists (channels only lose variables; a new temporary's pairs start at
their final maximum), so pairs wait in a pool with the count they had, the highest count's
pairs are checked when it comes up and the fallen ones go back lower, and among the current
count the tie-break picks. The loop runs compiled by numba (``cse_kernels``). Large layers
are cut into blocks of consecutive inputs (each block's temporaries are its own; the channel
adds its blocks' partial terms), which bounds the work and is also how the array will see
them: a block is an input tile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import cse_kernels as kernels
from .ir import ChannelSum

# Automatic block size: at most this many weights (channels x inputs) per block, and never
# fewer than MIN_BLOCK_INPUTS inputs. Quality grows with the block, time and memory faster.
BLOCK_AREA = 64 * 1152
MIN_BLOCK_INPUTS = 144
# Ruin-and-recreate rounds on small blocks (at most IMPROVE_LIMIT naive adds): about
# IMPROVE_WORK / (naive adds), at most MAX_ROUNDS. Larger blocks keep the greedy result.
IMPROVE_LIMIT = 12_000
IMPROVE_WORK = 1_500_000
MAX_ROUNDS = 300
RUIN_CHANNELS = 2  # channels whose temporaries one round dissolves
RECREATE_BATCH = 4


@dataclass(frozen=True)
class Temporary:
    """Variable ``index`` = ``left`` + ``sign`` * ``right`` (both earlier variables)."""

    index: int
    left: int
    right: int
    sign: int


@dataclass(frozen=True, eq=False)
class CseDag:
    """Variables 0..inputs-1 are the inputs; temporary i is variable ``inputs + i``.

    ``temps[i] = (left, right, sign)``: temporary i = left + sign*right.
    ``channels[k]``: rows ``(variable, sign)``; channel k = the sum of sign*variable.
    """

    inputs: int
    temps: np.ndarray  # (T, 3) int64
    channels: tuple[np.ndarray, ...]  # each (n, 2) int64

    @property
    def temporaries(self) -> list[Temporary]:
        return [Temporary(self.inputs + i, int(a), int(b), int(s))
                for i, (a, b, s) in enumerate(self.temps.tolist())]

    @property
    def adds(self) -> int:
        return len(self.temps) + sum(max(len(c) - 1, 0) for c in self.channels)

    def channel_terms(self, k: int) -> list[tuple[int, int]]:
        return [(int(v), int(s)) for v, s in self.channels[k]]

    def evaluate(self, x) -> np.ndarray:
        """Every channel's value for inputs ``x`` (last axis), computed from the DAG alone."""
        x = np.asarray(x, dtype=np.int64)
        if x.shape[-1] != self.inputs:
            raise ValueError(f"x has {x.shape[-1]} inputs, the DAG {self.inputs}")
        values = np.zeros((self.inputs + len(self.temps), *x.shape[:-1]), np.int64)
        values[:self.inputs] = np.moveaxis(x, -1, 0)
        # Temporaries by depth: each level depends only on earlier levels.
        for level in _levels(self.inputs, self.temps):
            left, right, sign = self.temps[level].T
            sign = sign.reshape(-1, *([1] * (x.ndim - 1)))
            values[self.inputs + level] = values[left] + sign * values[right]
        out = np.zeros((len(self.channels), *x.shape[:-1]), np.int64)
        for k, terms in enumerate(self.channels):
            if len(terms):
                sign = terms[:, 1].reshape(-1, *([1] * (x.ndim - 1)))
                out[k] = (sign * values[terms[:, 0]]).sum(axis=0)
        return np.moveaxis(out, 0, -1)


def _levels(inputs: int, temps: np.ndarray) -> list[np.ndarray]:
    """Temporary indices grouped by depth (inputs have depth 0)."""
    depth = np.zeros(inputs + len(temps), np.int64)
    for i, (a, b, _) in enumerate(temps.tolist()):
        depth[inputs + i] = max(depth[a], depth[b]) + 1
    tdepth = depth[inputs:]
    order = np.argsort(tdepth, kind="stable")
    bounds = np.searchsorted(tdepth[order], np.arange(1, int(tdepth.max(initial=0)) + 2))
    return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]


def naive_adds(sums: Sequence[ChannelSum]) -> int:
    """Two-operand adds of the folded sums: n terms cost n - 1."""
    return sum(max(len(s.terms) - 1, 0) for s in sums)


def weight_matrix(sums: Sequence[ChannelSum], inputs: int) -> np.ndarray:
    """The folded sums as a (channels, inputs) int8 matrix of -1, 0, +1."""
    w = np.zeros((len(sums), inputs), np.int8)
    for k, s in enumerate(sums):
        if s.terms:
            w[k, [t.index for t in s.terms]] = [t.sign for t in s.terms]
    return w


def eliminate(sums: Sequence[ChannelSum], inputs: int, *, block_inputs: int | None = None,
              rounds: int | None = None, seed: int = 0) -> CseDag:
    """CSE over the folded ``sums`` of a layer with ``inputs`` inputs; see the module notes.

    ``block_inputs``: inputs per block (default: automatic, see BLOCK_AREA). ``rounds``:
    ruin-and-recreate rounds per block (default: by size, 0 on large blocks). Deterministic
    for a given ``seed``.
    """
    return eliminate_matrix(weight_matrix(sums, inputs), block_inputs=block_inputs,
                            rounds=rounds, seed=seed)


def block_size(channels: int, inputs: int) -> int:
    """Inputs per block: balanced blocks of at most max(MIN_BLOCK_INPUTS, BLOCK_AREA / K)."""
    limit = max(MIN_BLOCK_INPUTS, BLOCK_AREA // max(channels, 1))
    blocks = max(1, math.ceil(inputs / limit))
    return max(1, math.ceil(inputs / blocks))


def default_rounds(naive: int, share: float = 1.0) -> int:
    """Ruin-and-recreate rounds for a block of ``naive`` naive adds, given ``share`` of the
    usual improvement work (a compiler splitting a layer into many blocks gives each less)."""
    if naive > IMPROVE_LIMIT:
        return 0
    return int(min(MAX_ROUNDS * share, IMPROVE_WORK * share // max(naive, 1)))


def eliminate_matrix(weights: np.ndarray, *, block_inputs: int | None = None,
                     rounds: int | None = None, seed: int = 0,
                     batch: int | None = None, share: float = 1.0) -> CseDag:
    """CSE over a (channels, inputs) matrix of -1, 0, +1 (row k is channel k)."""
    w = np.asarray(weights)
    if w.ndim != 2 or not np.isin(w, (-1, 0, 1)).all():
        raise ValueError("weights must be a 2-D matrix of -1, 0 and +1")
    w = w.astype(np.int8)
    channels, inputs = w.shape
    size = block_inputs or block_size(channels, inputs)
    temps: list[np.ndarray] = []
    parts: list[list[np.ndarray]] = [[] for _ in range(channels)]
    next_var = inputs
    for first in range(0, inputs, size):
        block = w[:, first:first + size]
        n = block.shape[1]
        naive = int(np.maximum(np.count_nonzero(block, axis=1) - 1, 0).sum())
        block_rounds = rounds if rounds is not None else default_rounds(naive, share)
        block_batch = batch or (1 if block_rounds else max(1, channels // 8))
        state = _improve(_Greedy(block, batch=block_batch).run(), block_rounds, seed)
        # Local variables: 0..n-1 the block's inputs, then its temporaries in order.
        local = np.concatenate([np.arange(first, first + n),
                                np.arange(next_var, next_var + state.count)])
        if state.count:
            t = np.asarray(state.temps, np.int64)
            temps.append(np.stack([local[t[:, 0]], local[t[:, 1]], t[:, 2]], axis=1))
        rows, cols = np.nonzero(state.members())
        signs = state.members()[rows, cols].astype(np.int64)
        splits = np.searchsorted(rows, np.arange(1, channels))
        for k, (c, s) in enumerate(zip(np.split(local[cols], splits),
                                       np.split(signs, splits), strict=True)):
            if len(c):
                parts[k].append(np.stack([c, s], axis=1))
        next_var += state.count
    empty = np.zeros((0, 2), np.int64)
    chans = tuple(np.concatenate(p) if p else empty for p in parts)
    all_temps = np.concatenate(temps) if temps else np.zeros((0, 3), np.int64)
    return CseDag(inputs=inputs, temps=all_temps, channels=chans)


class _State:
    """A block part-way: channel membership over variables, and the temporaries so far."""

    def __init__(self, members: np.ndarray, inputs: int, temps: list[tuple[int, int, int]]):
        self._members = members  # (K, V) int8, V = inputs + len(temps)
        self.inputs = inputs
        self.temps = temps

    @property
    def count(self) -> int:
        return len(self.temps)

    def members(self) -> np.ndarray:
        return self._members

    @property
    def adds(self) -> int:
        lengths = np.count_nonzero(self._members, axis=1)
        return len(self.temps) + int(np.maximum(lengths - 1, 0).sum())


class _Greedy:
    """Greedy signed-pair extraction over one block (see the module notes).

    Channels: ``items[k]`` holds channel k's variables in slots (-1: an empty slot), ``signs``
    their signs (0: empty); a channel never holds more variables than at the start.
    Variables: ``held[x]`` and ``negative[x]`` are bit sets (uint64 words) of the channels
    holding x, and of those where its sign is -1, so a pair's count is a few popcounts.

    Pairs with a count of at least 2 wait in a pool with a count they had; counts only
    fall, so the pairs of the highest count are checked when they come up and the fallen
    ones go back lower. The loop itself is ``cse_kernels.greedy``.
    """

    def __init__(self, members: np.ndarray, inputs: int | None = None,
                 temps: Sequence[tuple[int, int, int]] = (), seed: int = 0,
                 jitter: float = 0.0, batch: int = 1,
                 fresh: np.ndarray | None = None) -> None:
        members = np.asarray(members, np.int8)
        channels, variables = members.shape
        self.inputs = variables if inputs is None else inputs
        self.temps = list(temps)
        self.seed, self.jitter, self.batch = seed, jitter, batch
        self.K = channels
        lengths = np.count_nonzero(members, axis=1)
        naive = int(np.maximum(lengths - 1, 0).sum())
        self.cap = variables + naive // 8 + 64  # temporaries: about a tenth of the naive adds
        width = max(1, int(lengths.max(initial=0)))
        rows, cols = np.nonzero(members)
        slots = np.arange(len(rows)) - np.searchsorted(rows, rows)
        self.items = np.full((channels, width), -1, np.int64)
        self.items[rows, slots] = cols
        self.signs = np.zeros((channels, width), np.int8)
        self.signs[rows, slots] = members[rows, cols]
        self.words = (channels + 63) // 64
        self.held = np.zeros((self.cap, self.words), np.uint64)
        self.negative = np.zeros((self.cap, self.words), np.uint64)
        self.held[:variables] = _pack(members.T != 0, self.words)
        self.negative[:variables] = _pack(members.T < 0, self.words)
        self.uses = np.zeros(self.cap, np.int64)  # channels each variable occurs in
        self.uses[:variables] = np.count_nonzero(members, axis=0)
        self.V = variables
        self.pool: list[np.ndarray] = []  # rows (lo, hi, which, count) of candidate pairs
        if fresh is None:  # every pair of the starting variables, by matrix products
            a = members.astype(np.float32)
            g = np.rint(a.T @ a).astype(np.int64)
            h = np.rint(np.abs(a).T @ np.abs(a)).astype(np.int64)
            hi, lo = np.tril_indices(variables, -1)
            for which, counts in ((0, (h + g) // 2), (1, (h - g) // 2)):
                c = counts[hi, lo]
                keep = c >= 2
                self.pool.append(np.stack([lo[keep], hi[keep],
                                              np.full(int(keep.sum()), which), c[keep]], axis=1))
        else:  # only pairs with a fresh variable in a changed channel can occur twice
            keys = [np.zeros(0, np.int64)]
            for k in np.flatnonzero(fresh.any(axis=1)).tolist():
                held = np.flatnonzero(members[k])
                new = np.flatnonzero(fresh[k])
                lo = np.minimum.outer(new, held).ravel()
                hi = np.maximum.outer(new, held).ravel()
                keys.append((lo << 32 | hi)[lo != hi])
            keys = np.unique(np.concatenate(keys))
            pairs = np.stack([keys >> 32, keys & 0xFFFFFFFF], axis=1)
            for which in (0, 1):
                rows = np.concatenate([pairs, np.full((len(pairs), 1), which)], axis=1)
                counts = kernels.pair_counts(self.held, self.negative, rows[:, 0], rows[:, 1],
                                             rows[:, 2])
                self.pool.append(np.concatenate([rows, counts[:, None]], axis=1))

    def run(self) -> _State:
        pool = np.concatenate(self.pool).astype(np.int64) if self.pool else \
            np.zeros((0, 4), np.int64)
        pool = np.ascontiguousarray(pool[pool[:, 3] >= 2])
        seed_bits = np.uint64(self.seed * 0x27D4EB2F & 0xFFFFFFFF)
        self.held, self.negative, self.uses, self.V, temps = kernels.greedy(
            self.items, self.signs, self.held, self.negative, self.uses, self.V, self.K, pool,
            self.batch, float(self.jitter), seed_bits)
        self.temps.extend(tuple(t) for t in temps.tolist())
        members = np.zeros((self.K, self.V), np.int8)
        rows, slots = np.nonzero(self.signs)
        members[rows, self.items[rows, slots]] = self.signs[rows, slots]
        return _State(members, self.inputs, self.temps)


def _pack(bits: np.ndarray, words: int) -> np.ndarray:
    """Rows of booleans (one per channel) as uint64 words, channel k at bit k % 64 of word
    k // 64."""
    padded = np.zeros((len(bits), words * 64), bool)
    padded[:, :bits.shape[1]] = bits
    return np.packbits(padded, axis=1, bitorder="little").view(np.uint64)


def _improve(state: _State, rounds: int, seed: int) -> _State:
    """Ruin and recreate ``rounds`` times; keep a result when it costs no more adds."""
    best = state
    if rounds <= 0 or not best.count:
        return best
    rng = np.random.default_rng(seed)
    channels = best.members().shape[0]
    for r in range(rounds):
        ruined = rng.choice(channels, size=min(channels, RUIN_CHANNELS), replace=False)
        members, temps, fresh = _ruin(best, ruined)
        if not fresh.any():
            continue
        candidate = _Greedy(members, best.inputs, temps, seed=seed * 1_000_003 + r + 1,
                            jitter=1.0, fresh=fresh, batch=RECREATE_BATCH).run()
        if candidate.adds <= best.adds:
            best = candidate
    return best


def _ruin(state: _State, ruined: np.ndarray):
    """Dissolve the temporaries the ``ruined`` channels use, and every temporary built on
    one, back into the channels that use them. Returns the channels over the variables left
    (renumbered), the temporaries left, and where a variable newly appeared in a channel."""
    n, temps = state.inputs, state.temps
    members = state.members()
    variables = n + len(temps)
    gone = np.zeros(variables, bool)
    gone[n:] = (members[ruined, n:] != 0).any(axis=0)
    for i, (a, b, _) in enumerate(temps):
        if gone[a] or gone[b]:
            gone[n + i] = True
    before = members
    members = members.astype(np.int8, copy=True)
    for i in np.flatnonzero(gone[n:])[::-1].tolist():
        t = n + i
        a, b, s = temps[i]
        rows = np.flatnonzero(members[:, t])
        sign = members[rows, t]
        members[rows, a] += sign
        members[rows, b] += sign * np.int8(s)
        members[rows, t] = 0
    keep = np.flatnonzero(~gone)
    renumber = np.full(variables, -1)
    renumber[keep] = np.arange(len(keep))
    kept = [(int(renumber[a]), int(renumber[b]), s)
            for i, (a, b, s) in enumerate(temps) if not gone[n + i]]
    return members[:, keep], kept, (members[:, keep] != 0) & (before[:, keep] == 0)
