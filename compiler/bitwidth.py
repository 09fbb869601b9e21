"""Bit-width inference: how many bits each value needs, so operations touch no more."""

from __future__ import annotations

from .ir import ChannelSum


def signed_bits(low: int, high: int) -> int:
    """Smallest two's complement width holding every integer in low..high (at least 1)."""
    bits = 1
    while not (-(1 << (bits - 1)) <= low and high <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def accumulator_range(channel: ChannelSum, in_bits: int) -> tuple[int, int]:
    """The least and greatest value the channel's signed sum of activations can take."""
    top = (1 << in_bits) - 1
    positive = sum(1 for t in channel.terms if t.sign > 0)
    negative = len(channel.terms) - positive
    return -negative * top, positive * top


def accumulator_bits(channel: ChannelSum, in_bits: int, kind: str = "conv2d") -> int:
    """Bits of the value a channel builds: a max-pool's is one of its inputs (unsigned)."""
    if kind == "maxpool":
        return in_bits
    return signed_bits(*accumulator_range(channel, in_bits))


def count_bits(levels: int) -> int:
    """Unsigned width of a thresholded output in 0..levels."""
    return max(1, levels.bit_length())
