"""Common subexpression elimination over folded ternary sums (greedy signed pairs).

Each output channel is a signed sum of inputs. A pair ``x + s*y`` (s = +1 or -1) that occurs
in several channels, with the same relative sign, is computed once as a temporary and used
in each of them (with the channel's sign: ``-x - y`` uses ``-(x + y)``). Temporaries can pair
again, so larger shared patterns emerge from repeated pairing. Each step takes the most
frequent pair; ties go to the pair with the variable that occurs least elsewhere (taking it
destroys fewer other pairs), then to the lowest indices, so the result is deterministic.

Counts: a temporary costs one two-operand add; a channel of n remaining terms costs n-1.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .ir import ChannelSum


@dataclass(frozen=True)
class Temporary:
    """Variable ``index`` = ``left`` + ``sign`` * ``right`` (variables below ``index``)."""

    index: int
    left: int
    right: int
    sign: int


@dataclass
class CseResult:
    inputs: int  # variables 0..inputs-1 are the inputs; temporaries follow
    temporaries: list[Temporary] = field(default_factory=list)
    channels: list[dict[int, int]] = field(default_factory=list)  # variable -> sign

    @property
    def adds(self) -> int:
        return len(self.temporaries) + sum(max(len(c) - 1, 0) for c in self.channels)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """Every channel's value for inputs ``x`` (last axis), from the DAG alone."""
        x = np.asarray(x, np.int64)
        values = [x[..., i] for i in range(self.inputs)]
        for temp in self.temporaries:
            values.append(values[temp.left] + temp.sign * values[temp.right])
        zero = np.zeros(x.shape[:-1], np.int64)
        return np.stack([sum((s * values[v] for v, s in c.items()), zero)
                         for c in self.channels], axis=-1)


def naive_adds(sums: Sequence[ChannelSum]) -> int:
    return sum(max(len(s.terms) - 1, 0) for s in sums)


TIE_BREAKS = {
    # Among equally frequent pairs, take first the one whose variables...
    "rare": lambda a, b: a + b,  # ...occur least elsewhere (destroys fewer other pairs)
    "common": lambda a, b: -(a + b),  # ...occur most elsewhere
    "index": lambda a, b: 0,  # (none: lowest indices)
    "rarest": lambda a, b: min(a, b),
    "commonest": lambda a, b: -max(a, b),
}


def eliminate(sums: Sequence[ChannelSum], inputs: int, tie_break: str = "rarest") -> CseResult:
    """Greedy pair extraction until no pair occurs twice; ``tie_break`` orders equally
    frequent pairs (see TIE_BREAKS; "rarest" measured best on random ternary matrices)."""
    rank = TIE_BREAKS[tie_break]
    channels = [{t.index: t.sign for t in s.terms} for s in sums]
    result = CseResult(inputs=inputs, channels=channels)
    counts: dict[tuple[int, int, int], int] = defaultdict(int)
    where: dict[tuple[int, int, int], set[int]] = defaultdict(set)
    uses: dict[int, int] = defaultdict(int)  # channels each variable occurs in

    def pair_key(x: int, sx: int, y: int, sy: int) -> tuple[int, int, int]:
        return (x, y, sx * sy) if x < y else (y, x, sx * sy)

    def touch(k: int, var: int, sign: int, delta: int) -> None:
        """Add (delta=+1) or remove (-1) the pairs of ``var`` in channel ``k``."""
        for other, other_sign in channels[k].items():
            if other == var:
                continue
            key = pair_key(var, sign, other, other_sign)
            counts[key] += delta
            if delta > 0:
                where[key].add(k)
                if counts[key] >= 2:
                    heapq.heappush(heap, entry(key))
            else:
                where[key].discard(k)

    def entry(key):
        return (-counts[key], rank(uses[key[0]], uses[key[1]]), key)

    heap: list = []
    for k, channel in enumerate(channels):
        items = sorted(channel.items())
        for var, _ in items:
            uses[var] += 1
        for i, (x, sx) in enumerate(items):
            for y, sy in items[i + 1:]:
                key = (x, y, sx * sy)
                counts[key] += 1
                where[key].add(k)
    heap = [entry(key) for key, n in counts.items() if n >= 2]
    heapq.heapify(heap)

    next_var = inputs
    while heap:
        negative_count, _, key = heapq.heappop(heap)
        if -negative_count != counts[key] or counts[key] < 2:
            continue  # stale entry
        if entry(key)[1] != _:
            heapq.heappush(heap, entry(key))  # its tie-break moved: re-rank
            continue
        x, y, relative = key
        temp = Temporary(next_var, x, y, relative)
        result.temporaries.append(temp)
        for k in sorted(where[key]):
            channel = channels[k]
            sx = channel[x]
            touch(k, x, sx, -1)
            del channel[x]
            touch(k, y, channel[y], -1)
            del channel[y]
            uses[x] -= 1
            uses[y] -= 1
            channel[next_var] = sx  # x + s*y with the sign x had here
            uses[next_var] += 1
            touch(k, next_var, sx, +1)
        counts.pop(key, None)
        where.pop(key, None)
        next_var += 1
    return result
