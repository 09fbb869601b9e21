"""The host link's gateware under Amaranth's simulator, bytes in and out: a compiled layer run
through the framed protocol gives the simulator's outputs bit for bit, and every refusal
(bad CRC, unknown command, bad length, busy, overflow) has its reply and no effect."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator
from link_cases import linear_layer_runs

from rtmap.hostlink import (
    REPLY_SYNC,
    Command,
    Status,
    crc8,
    pack_words,
    request,
    unpack_words,
    word_bytes,
)
from rtmap.hw.host_link import HostLink
from rtmap.hw.top import RtmapTop
from rtmap.isa import instruction_layout
from rtmap.params import MachineParams

PARAMS = MachineParams(rows=4, tracks=10, domains=8, program_depth=512)


def test_crc8_is_the_standard_one():
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS check value


class Link:
    """The host's side of the byte streams, inside an Amaranth testbench."""

    def __init__(self, ctx, link: HostLink):
        self.ctx, self.link = ctx, link

    async def send(self, frame: bytes) -> None:
        ctx, rx = self.ctx, self.link.rx
        for byte in frame:
            ctx.set(rx.valid, 1)
            ctx.set(rx.payload, byte)
            while True:
                ready = ctx.get(rx.ready)
                await ctx.tick()
                if ready:
                    break
            ctx.set(rx.valid, 0)
            await ctx.tick()  # a UART delivers a byte at most every few cycles

    async def receive(self, limit: int = 100_000) -> tuple[Status, bytes]:
        ctx, tx = self.ctx, self.link.tx
        ctx.set(tx.ready, 1)
        got: list[int] = []
        for _ in range(limit):
            if ctx.get(tx.valid):
                got.append(ctx.get(tx.payload))
            await ctx.tick()
            if len(got) >= 4 and len(got) == 5 + got[2] + (got[3] << 8):
                break
        else:
            raise AssertionError(f"no whole reply after {limit} cycles: {got}")
        assert got[0] == REPLY_SYNC and crc8(got[1:-1]) == got[-1], got
        return Status(got[1]), bytes(got[4:-1])

    async def ask(self, command: Command, payload: bytes = b"") -> tuple[Status, bytes]:
        await self.send(request(command, payload))
        return await self.receive()


def harness(params: MachineParams, in_depth: int, out_depth: int):
    m = Module()
    m.submodules.link = link = HostLink(params, in_depth, out_depth)
    m.submodules.top = top = RtmapTop(params)
    wiring.connect(m, link.processor, top)
    return m, link


def simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


async def run_over_link(io: Link, stream: list[int], tracks: int) -> dict:
    """What a host driver does for one run: stream the inputs in as the FIFO frees, start,
    drain the outputs, until done."""
    pending = list(stream)
    outputs: list[int] = []
    status, info = await io.ask(Command.STATUS)
    free = int.from_bytes(info[2:4], "little")
    first, pending = pending[:free], pending[free:]
    if first:
        assert (await io.ask(Command.DATA, pack_words(first, tracks)))[0] is Status.OK
    assert (await io.ask(Command.START))[0] is Status.OK
    while True:
        status, info = await io.ask(Command.STATUS)
        assert status is Status.OK
        busy, done, error = info[0] & 1, info[0] >> 1 & 1, info[0] >> 2 & 1
        free = int.from_bytes(info[2:4], "little")
        waiting = int.from_bytes(info[4:6], "little")
        if pending and free:
            chunk, pending = pending[:free], pending[free:]
            assert (await io.ask(Command.DATA, pack_words(chunk, tracks)))[0] is Status.OK
        if waiting:
            status, data = await io.ask(Command.READ, waiting.to_bytes(2, "little"))
            assert status is Status.OK
            outputs += unpack_words(data, tracks)
        if not busy and (done or error) and not waiting:
            break
    status, counters = await io.ask(Command.COUNTERS)
    values = [int.from_bytes(counters[i:i + 4], "little") for i in range(0, 20, 4)]
    return {"outputs": outputs, "error": error, "counters": values}


@pytest.mark.parametrize("seed", range(2))
def test_a_layer_runs_through_the_link_bit_for_bit(seed):
    compiled, streams, expected = linear_layer_runs(seed, PARAMS)
    dut, link = harness(PARAMS, in_depth=8, out_depth=4)  # small FIFOs: chunks and stalls
    program_bits = instruction_layout(PARAMS).size
    results = []

    async def bench(ctx):
        io = Link(ctx, link)
        status, info = await io.ask(Command.INFO)
        assert status is Status.OK
        assert [int.from_bytes(info[a:b], "little") for a, b in
                ((0, 2), (2, 4), (4, 6), (6, 7), (7, 11), (11, 13), (13, 15))] == \
            [PARAMS.rows, PARAMS.tracks, PARAMS.domains, PARAMS.shift_latency,
             PARAMS.program_depth, 8, 4]
        status, _ = await io.ask(Command.PROGRAM, pack_words(compiled.program.words,
                                                             program_bits))
        assert status is Status.OK
        for stream in streams:
            results.append(await run_over_link(io, stream, PARAMS.tracks))

    simulate(dut, bench)
    for got, want in zip(results, expected, strict=True):
        assert got["error"] == 0
        assert got["outputs"] == want.outputs
        # Stalls on the link add cycles, nothing else.
        assert got["counters"][1:] == [want.counters[k] for k in
                                       ("searches", "writes", "shifts", "io_words")]
        assert got["counters"][0] >= want.counters["cycles"]


def test_refusals_have_their_reply_and_no_effect():
    dut, link = harness(PARAMS, in_depth=4, out_depth=4)
    tracks = PARAMS.tracks

    async def bench(ctx):
        io = Link(ctx, link)
        frame = bytearray(request(Command.DATA, pack_words([1, 2], tracks)))
        frame[-1] ^= 0xFF
        await io.send(bytes(frame))
        assert await io.receive() == (Status.BAD_CRC, b"")
        await io.send(bytes([0xA5, 0x7F, 0, 0, crc8(bytes([0x7F, 0, 0]))]))
        assert await io.receive() == (Status.UNKNOWN_COMMAND, b"")
        assert await io.ask(Command.STATUS, b"\x00") == (Status.BAD_LENGTH, b"")
        assert await io.ask(Command.DATA, b"\x01") == (Status.BAD_LENGTH, b"")
        word = pack_words([1], tracks)  # a word and a byte, and three words less a byte
        assert await io.ask(Command.DATA, word + b"\x01") == (Status.BAD_LENGTH, b"")
        assert await io.ask(Command.DATA, (word * 3)[:-1]) == (Status.BAD_LENGTH, b"")
        program_word = link.program_bytes
        for size in (1, program_word + 1, 3 * program_word - 1):
            assert await io.ask(Command.PROGRAM, b"\x00" * size) == (Status.BAD_LENGTH, b"")
        assert await io.ask(Command.DATA, pack_words([1] * 5, tracks)) == \
            (Status.OVERFLOW, b"")
        # None of that reached the input FIFO: all four words are free.
        status, info = await io.ask(Command.STATUS)
        assert status is Status.OK and int.from_bytes(info[2:4], "little") == 4
        assert await io.ask(Command.DATA, pack_words([3, 4, 5, 6], tracks)) == (Status.OK, b"")
        status, info = await io.ask(Command.STATUS)
        assert int.from_bytes(info[2:4], "little") == 0
        # A program that loops for a while, so START finds the processor busy.
        from rtmap.asm import assemble

        words = assemble("loop 200\nsearch set\nendl\nhalt\n", PARAMS)
        program_bits = instruction_layout(PARAMS).size
        assert (await io.ask(Command.PROGRAM, pack_words(words, program_bits)))[0] is Status.OK
        assert await io.ask(Command.START) == (Status.OK, b"")
        assert await io.ask(Command.START) == (Status.BUSY, b"")
        assert await io.ask(Command.PROGRAM, pack_words(words, program_bits)) == \
            (Status.BUSY, b"")

    simulate(dut, bench)


@pytest.mark.parametrize("depth", [0, 3, 6, True])
def test_fifo_depths_must_be_powers_of_two(depth):
    with pytest.raises(ValueError, match=r"^in_depth must be a power of two of at least 2"):
        HostLink(PARAMS, in_depth=depth)
    with pytest.raises(ValueError, match=r"^out_depth must be a power of two of at least 2"):
        HostLink(PARAMS, out_depth=depth)


def test_words_travel_little_endian_in_whole_bytes():
    assert word_bytes(10) == 2 and word_bytes(8) == 1 and word_bytes(1) == 1
    assert pack_words([0x2AB, 1], 10) == bytes([0xAB, 0x02, 0x01, 0x00])
    assert unpack_words(bytes([0xAB, 0x02, 0x01, 0x00]), 10) == [0x2AB, 1]
