"""The host link's framed protocol (docs/HOSTLINK.md): the one definition the gateware
(hw/host_link.py) and the host driver share.

A request is ``A5 cmd len_lo len_hi payload... crc``; a reply ``5A status len_lo len_hi
payload... crc``. The CRC is CRC-8 (polynomial x^8 + x^2 + x + 1, initial value 0, no
reflection) over every byte after the sync byte.
"""

from __future__ import annotations

import enum

REQUEST_SYNC = 0xA5
REPLY_SYNC = 0x5A
CRC_POLY = 0x07
MAX_PAYLOAD = 0xFFFF


class Command(enum.IntEnum):
    INFO = 1  # -> rows u16, tracks u16, domains u16, shift_latency u8, program_depth u32,
    #            input FIFO depth u16, output FIFO depth u16
    PROGRAM = 2  # n instruction words (program_bytes each) -> written to addresses 0..n-1
    DATA = 3  # n input words (word_bytes each) -> appended to the input FIFO, all or none
    START = 4  # begin a run
    STATUS = 5  # -> flags (busy, done, error) u8, error_code u8, input free u16, output u16
    READ = 6  # max words u16 -> up to that many output words
    COUNTERS = 7  # -> cycles, searches, writes, shifts, io_words, u32 each


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    UNKNOWN_COMMAND = 2
    BAD_LENGTH = 3
    BUSY = 4
    OVERFLOW = 5


INFO_BYTES = 15
STATUS_BYTES = 6
COUNTERS_BYTES = 20


def crc8(data: bytes | list[int], crc: int = 0) -> int:
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def word_bytes(bits: int) -> int:
    """Bytes a word of ``bits`` takes on the link (little-endian, zero-padded)."""
    return (bits + 7) // 8


def request(command: Command, payload: bytes = b"") -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a payload holds at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    body = bytes([command, len(payload) & 0xFF, len(payload) >> 8]) + payload
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])


def reply(status: Status, payload: bytes = b"") -> bytes:
    """A reply as the gateware sends it (for tests and models)."""
    body = bytes([status, len(payload) & 0xFF, len(payload) >> 8]) + payload
    return bytes([REPLY_SYNC]) + body + bytes([crc8(body)])


def pack_words(words, bits: int) -> bytes:
    size = word_bytes(bits)
    return b"".join(int(w).to_bytes(size, "little") for w in words)


def unpack_words(data: bytes, bits: int) -> list[int]:
    size = word_bytes(bits)
    return [int.from_bytes(data[i:i + size], "little") for i in range(0, len(data), size)]
