"""The greedy CSE's inner loops (compiler/cse.py ``_Greedy``), compiled with numba.

Each extraction touches a few channels and a few words of bit sets: as NumPy calls that was
dozens of small array operations per step, and the call overhead, not the work, set the
compile time of large layers. These kernels do the same work in plain loops; ``_Greedy``
keeps the algorithm (which pair, when) and calls them for the arithmetic.

Bit sets: ``held[x]`` and ``negative[x]`` are rows of uint64 words over the channels (channel
k at bit k % 64 of word k // 64) that hold variable x, and where x has sign -1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_ALL = ~np.uint64(0)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, inline="always")
def _popcount(x):
    x = x - ((x >> _ONE) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@njit(cache=True, inline="always")
def _together(held, negative, lo, hi, which, word):
    """Channels (one word of them) holding lo and hi with equal signs (which = 0) or
    opposite signs (which = 1)."""
    flip = _ALL if which == 0 else _ZERO
    return held[lo, word] & held[hi, word] & (negative[lo, word] ^ negative[hi, word] ^ flip)


@njit(cache=True, inline="always")
def _pair_count(held, negative, lo, hi, which):
    """How many channels hold lo and hi with the relative sign ``which``."""
    count = _ZERO
    for word in range(held.shape[1]):
        count += _popcount(_together(held, negative, lo, hi, which, word))
    return np.int64(count)


@njit(cache=True)
def pair_counts(held, negative, lo, hi, which):
    """How many channels hold each pair (lo[i], hi[i]) with the relative sign which[i]."""
    out = np.empty(len(lo), np.int64)
    for i in range(len(lo)):
        out[i] = _pair_count(held, negative, lo[i], hi[i], which[i])
    return out


@njit(cache=True)
def choose_disjoint(held, negative, lo, hi, which, limit):
    """Indices of up to ``limit`` candidates, taken in the given order, no two sharing a
    variable or a channel (so extracting them together equals extracting them in turn)."""
    words = held.shape[1]
    used_channels = np.zeros(words, np.uint64)
    used_variables = np.empty(2 * limit, np.int64)
    chosen = np.empty(limit, np.int64)
    taken = 0
    for i in range(len(lo)):
        a, b = lo[i], hi[i]
        clash = False
        for u in range(2 * taken):
            if used_variables[u] == a or used_variables[u] == b:
                clash = True
        for word in range(words):
            if _together(held, negative, a, b, which[i], word) & used_channels[word]:
                clash = True
        if clash:
            continue
        for word in range(words):
            used_channels[word] |= _together(held, negative, a, b, which[i], word)
        used_variables[2 * taken] = a
        used_variables[2 * taken + 1] = b
        chosen[taken] = i
        taken += 1
        if taken == limit:
            break
    return chosen[:taken]


@njit(cache=True)
def extract(items, signs, held, negative, uses, a, b, sign, level, first_new):
    """Temporary ``first_new + p`` = a[p] + sign[p]*b[p] in every channel holding both with
    that relative sign (the pairs share no variable and no channel); updates the channels
    (``items``/``signs``: each channel's variables in slots, -1/0 when empty), the bit sets
    and ``uses``. Returns rows (x, t, which, count) of every pair of a new temporary t with a
    variable x that now occurs in at least two channels."""
    words = held.shape[1]
    width = items.shape[1]
    count = np.zeros(2 * (first_new + len(a)), np.int64)  # by key x * 2 + opposite sign
    seen = np.empty(level * width + 1, np.int64)
    rows = np.empty((len(a) * (level * width // 2 + 1), 4), np.int64)
    found = 0
    where = np.empty(words, np.uint64)
    for p in range(len(a)):
        ap, bp, t = a[p], b[p], first_new + p
        for word in range(words):
            where[word] = _together(held, negative, ap, bp, 0 if sign[p] > 0 else 1, word)
        distinct = 0
        for word in range(words):
            bits = where[word]
            if bits == _ZERO:
                continue
            for bit in range(64):
                if not (bits >> np.uint64(bit)) & _ONE:
                    continue
                k = word * 64 + bit
                slot_a = slot_b = -1
                for j in range(width):
                    if items[k, j] == ap:
                        slot_a = j
                    elif items[k, j] == bp:
                        slot_b = j
                sign_a = signs[k, slot_a]
                for j in range(width):  # every other variable, its sign relative to a's
                    if signs[k, j] == 0 or j == slot_a or j == slot_b:
                        continue
                    key = items[k, j] * 2 + (1 if signs[k, j] != sign_a else 0)
                    if count[key] == 0:
                        seen[distinct] = key
                        distinct += 1
                    count[key] += 1
                items[k, slot_a] = t  # t takes a's slot (and sign); b's slot empties
                items[k, slot_b] = -1
                signs[k, slot_b] = 0
        for i in range(distinct):
            key = seen[i]
            if count[key] >= 2:
                rows[found, 0] = key // 2
                rows[found, 1] = t
                rows[found, 2] = key % 2
                rows[found, 3] = count[key]
                found += 1
            count[key] = 0
        for word in range(words):
            keep = ~where[word]
            held[t, word] = where[word]
            negative[t, word] = negative[ap, word] & where[word]
            held[ap, word] &= keep
            negative[ap, word] &= keep
            held[bp, word] &= keep
            negative[bp, word] &= keep
        uses[ap] -= level
        uses[bp] -= level
        uses[t] = level
    return rows[:found].copy()


@njit(cache=True, inline="always")
def _noise(lo, hi, which, seed_bits):
    """A fixed pseudo-random number in [0, 1) per (pair, seed): randomised tie-breaks."""
    mask = np.uint64(0xFFFFFFFF)
    h = (np.uint64(lo) * np.uint64(0x9E3779B1) + np.uint64(hi) * np.uint64(0x85EBCA77)
         + np.uint64(which + 2) * np.uint64(0xC2B2AE3D) + seed_bits) & mask
    h ^= h >> np.uint64(15)
    h = (h * np.uint64(0x2C1B3C6D)) & mask
    h ^= h >> np.uint64(12)
    return np.float64(h) / 2.0**32


@njit(cache=True, inline="always")
def _rank(uses, lo, hi, which, channels, jitter, seed_bits):
    """The tie-break among pairs of one count, lower first: the busier variable's channels
    (plus a fixed per-pair jitter when randomised), then the other variable's."""
    ul, uh = uses[lo], uses[hi]
    busy = np.float64(max(ul, uh))
    if jitter:
        busy += jitter * _noise(lo, hi, which, seed_bits)
    return busy * (channels + 1) + min(ul, uh)


@njit(cache=True, inline="always")
def _before(rank, pairs, i, j):
    """Pair i goes before pair j: by rank, then the indices."""
    if rank[i] != rank[j]:
        return rank[i] < rank[j]
    for column in range(3):
        if pairs[i, column] != pairs[j, column]:
            return pairs[i, column] < pairs[j, column]
    return False


@njit(cache=True)
def _reserve(buffer, size, need):
    """``buffer`` (its first ``size`` rows kept), grown to at least ``need`` rows."""
    if need <= len(buffer):
        return buffer
    grown = np.empty((max(2 * len(buffer), need), buffer.shape[1]), buffer.dtype)
    grown[:size] = buffer[:size]
    return grown


@njit(cache=True)
def _append(buffer, size, rows):
    """``rows`` appended after ``size`` rows of ``buffer`` (grown when full)."""
    buffer = _reserve(buffer, size, size + len(rows))
    buffer[size:size + len(rows)] = rows
    return buffer


@njit(cache=True)
def _grow_variables(held, negative, uses, need):
    cap = max(need, len(uses) + len(uses) // 2)
    new_held = np.zeros((cap, held.shape[1]), np.uint64)
    new_negative = np.zeros((cap, held.shape[1]), np.uint64)
    new_uses = np.zeros(cap, np.int64)
    new_held[:len(uses)] = held
    new_negative[:len(uses)] = negative
    new_uses[:len(uses)] = uses
    return new_held, new_negative, new_uses


@njit(cache=True)
def greedy(items, signs, held, negative, uses, variables, channels, pool, batch, jitter,
           seed_bits):
    """The greedy loop of ``_Greedy.run`` (compiler/cse.py): while some pair occurs in two
    channels, extract the best pairs of the highest count. ``pool``: rows (lo, hi, which,
    count) of the pairs that occur at least twice. Returns the grown bit sets and uses, the
    number of variables, and the temporaries as rows (left, right, sign)."""
    temps = np.empty((64, 3), np.int64)
    made = 0
    pool = pool.copy()
    pooled = len(pool)
    touched = np.zeros(len(uses), np.bool_)
    limit = 4 * batch + 4
    while True:
        level = 1
        for i in range(pooled):
            level = max(level, pool[i, 3])
        if level < 2:
            break
        # Take this level's pairs out of the pool (counts only fall: the pool keeps the rest).
        taken = pool[:pooled, 3] == level
        pairs = pool[:pooled][taken][:, :3].copy()
        count = len(pairs)
        rest = pool[:pooled][~taken]
        pooled = len(rest)
        pool[:pooled] = rest
        check = np.ones(count, np.bool_)  # a pooled count may have fallen since
        rank = np.empty(len(pairs))  # each pair's tie-break, kept current as uses change
        for i in range(count):
            rank[i] = _rank(uses, pairs[i, 0], pairs[i, 1], pairs[i, 2], channels, jitter,
                            seed_bits)
        while count:
            # Pairs that lost channels since filed fall back to the pool at their count.
            if check[:count].any():
                kept = 0
                for i in range(count):
                    current = level
                    if check[i]:
                        current = _pair_count(held, negative, pairs[i, 0], pairs[i, 1],
                                              pairs[i, 2])
                    if current < level:
                        if current >= 2:
                            pool = _reserve(pool, pooled, pooled + 1)
                            pool[pooled, :3] = pairs[i]
                            pool[pooled, 3] = current
                            pooled += 1
                    else:
                        pairs[kept] = pairs[i]
                        rank[kept] = rank[i]
                        kept += 1
                count = kept
                if not count:
                    break
            # The best candidates: fewest channels on the busier variable, then the other's.
            if batch <= 1 or count == 1:
                best = 0
                for i in range(1, count):
                    if _before(rank, pairs, i, best):
                        best = i
                top = np.array([best])
            else:
                if limit < count:
                    bound = np.partition(rank[:count], limit - 1)[limit - 1]
                    top = np.flatnonzero(rank[:count] <= bound)
                else:
                    top = np.arange(count)
                for i in range(1, len(top)):  # insertion sort: a few dozen candidates
                    j = i
                    while j and _before(rank, pairs, top[j], top[j - 1]):
                        top[j], top[j - 1] = top[j - 1], top[j]
                        j -= 1
                top = top[:limit]
                top = top[choose_disjoint(held, negative, pairs[top, 0], pairs[top, 1],
                                          pairs[top, 2], batch)]
            n = len(top)
            a, b = pairs[top, 0].copy(), pairs[top, 1].copy()
            sign = 1 - 2 * pairs[top, 2]
            if variables + n > len(uses):
                held, negative, uses = _grow_variables(held, negative, uses, variables + n)
                touched = np.zeros(len(uses), np.bool_)
            rows = extract(items, signs, held, negative, uses, a, b, sign, level, variables)
            for p in range(n):
                row = np.empty((1, 3), np.int64)
                row[0, 0], row[0, 1], row[0, 2] = a[p], b[p], sign[p]
                temps = _append(temps, made, row)
                made += 1
            variables += n
            # Only pairs sharing a variable with the batch can have lost channels.
            touched[a] = True
            touched[b] = True
            for i in range(count):
                check[i] = touched[pairs[i, 0]] or touched[pairs[i, 1]]
                if check[i]:  # a or b: their uses fell
                    rank[i] = _rank(uses, pairs[i, 0], pairs[i, 1], pairs[i, 2], channels,
                                    jitter, seed_bits)
            touched[a] = False
            touched[b] = False
            fresh = 0
            for r in range(len(rows)):
                if rows[r, 3] < level:
                    pool = _append(pool, pooled, rows[r:r + 1])
                    pooled += 1
                else:
                    pairs = _append(pairs, count + fresh, rows[r:r + 1, :3])
                    fresh += 1
            check = np.concatenate((check[:count], np.zeros(fresh, np.bool_)))
            if len(rank) < len(pairs):
                grown = np.empty(len(pairs))
                grown[:count] = rank[:count]
                rank = grown
            for i in range(count, count + fresh):
                rank[i] = _rank(uses, pairs[i, 0], pairs[i, 1], pairs[i, 2], channels, jitter,
                                seed_bits)
            count += fresh
    return held, negative, uses, variables, temps[:made].copy()
