"""The host side of an FPGA prototype: a driver for the host link (docs/HOSTLINK.md) over any
byte transport (a serial port, or the simulated UART of the tests), and the runs of a
compiled layer through it.

A transport has ``write(data: bytes)`` and ``read(size: int) -> bytes``; ``read`` may return
fewer bytes when it times out (pyserial's ``Serial`` is one).
"""

from __future__ import annotations

from .errors import RtmapError
from .hostlink import (
    COUNTERS_BYTES,
    INFO_BYTES,
    REPLY_SYNC,
    STATUS_BYTES,
    Command,
    Status,
    crc8,
    pack_words,
    request,
    unpack_words,
)
from .isa import COUNTERS, ErrorCode, instruction_layout
from .params import MachineParams

DEFAULT_BAUD = 115_200


class LinkClient:
    """Requests and their replies; every problem is an :class:`RtmapError` of one line."""

    def __init__(self, transport):
        self.transport = transport
        self.params: MachineParams | None = None
        self.in_depth = self.out_depth = 0

    def ask(self, command: Command, payload: bytes = b"") -> bytes:
        self.transport.write(request(command, payload))
        header = self._read(4, command)
        if header[0] != REPLY_SYNC:
            raise RtmapError(f"link: reply to {command.name} starts with {header[0]:#04x}, not "
                             f"{REPLY_SYNC:#04x}")
        rest = self._read(header[2] + (header[3] << 8) + 1, command)
        if crc8(header[1:] + rest[:-1]) != rest[-1]:
            raise RtmapError(f"link: reply to {command.name} fails its CRC")
        status = Status(header[1]) if header[1] in Status._value2member_map_ else header[1]
        if status is not Status.OK:
            name = status.name if isinstance(status, Status) else f"status {status}"
            raise RtmapError(f"link: {command.name} refused: {name}")
        return rest[:-1]

    def _read(self, size: int, command: Command) -> bytes:
        data = self.transport.read(size)
        if len(data) != size:
            raise RtmapError(f"link: no reply to {command.name} (got {len(data)} of {size} "
                             "bytes); is the board programmed and the port right?")
        return data

    def connect(self) -> MachineParams:
        """Ask the processor what it is (INFO)."""
        info = self.ask(Command.INFO)
        if len(info) != INFO_BYTES:
            raise RtmapError(f"link: INFO gave {len(info)} bytes, not {INFO_BYTES}")
        fields = [int.from_bytes(info[a:b], "little") for a, b in
                  ((0, 2), (2, 4), (4, 6), (6, 7), (7, 11), (11, 13), (13, 15))]
        rows, tracks, domains, shift_latency, depth, self.in_depth, self.out_depth = fields
        self.params = MachineParams(rows=rows, tracks=tracks, domains=domains,
                                    shift_latency=shift_latency, program_depth=depth)
        return self.params

    def load_program(self, words: list[int]) -> None:
        bits = instruction_layout(self.params).size
        self.ask(Command.PROGRAM, pack_words(words, bits))

    def status(self) -> dict:
        reply = self.ask(Command.STATUS)
        if len(reply) != STATUS_BYTES:
            raise RtmapError(f"link: STATUS gave {len(reply)} bytes, not {STATUS_BYTES}")
        return {"busy": reply[0] & 1, "done": reply[0] >> 1 & 1, "error": reply[0] >> 2 & 1,
                "error_code": reply[1], "in_free": int.from_bytes(reply[2:4], "little"),
                "out_waiting": int.from_bytes(reply[4:6], "little")}

    def counters(self) -> dict[str, int]:
        reply = self.ask(Command.COUNTERS)
        if len(reply) != COUNTERS_BYTES:
            raise RtmapError(f"link: COUNTERS gave {len(reply)} bytes, not {COUNTERS_BYTES}")
        return {name: int.from_bytes(reply[4 * i:4 * i + 4], "little")
                for i, name in enumerate(COUNTERS)}

    def run(self, stream: list[int]) -> dict:
        """One run: the input words in as the FIFO frees, START, the outputs drained until
        the processor is done; its outputs, counters and error code."""
        tracks = self.params.tracks
        pending = list(stream)
        outputs: list[int] = []
        free = self.status()["in_free"]
        if pending and free:
            chunk, pending = pending[:free], pending[free:]
            self.ask(Command.DATA, pack_words(chunk, tracks))
        self.ask(Command.START)
        while True:
            state = self.status()
            if pending and state["in_free"]:
                chunk, pending = pending[:state["in_free"]], pending[state["in_free"]:]
                self.ask(Command.DATA, pack_words(chunk, tracks))
            if state["out_waiting"]:
                outputs += unpack_words(
                    self.ask(Command.READ, state["out_waiting"].to_bytes(2, "little")), tracks)
            if not state["busy"] and (state["done"] or state["error"]) \
                    and not state["out_waiting"]:
                break
        return {"outputs": outputs, "counters": self.counters(),
                "error": ErrorCode(state["error_code"]) if state["error"] else ErrorCode.NONE}


def execute_on_link(compiled, streams: list[list[int]], client: LinkClient):
    """Each stream is one run of the compiled program on the board; one RunOutcome each."""
    from .run import RunOutcome

    if client.params is None:
        client.connect()
    if compiled.program.params != client.params:
        raise RtmapError(f"the program is compiled for {compiled.program.params.as_dict()} but "
                         f"the board is {client.params.as_dict()}")
    client.load_program(compiled.program.words)
    outcomes = []
    for stream in streams:
        ran = client.run(stream)
        outcomes.append(RunOutcome(ran["outputs"], ran["counters"], ran["error"]))
    return outcomes


def open_serial(port: str, baud: int = DEFAULT_BAUD):
    """A pyserial port for a LinkClient, with a timeout so that a silent board is an
    error, not a hang."""
    import serial

    try:
        return serial.Serial(port, baud, timeout=2.0)
    except (serial.SerialException, ValueError) as exc:
        raise RtmapError(f"{port}: cannot open the serial port ({exc})") from None
