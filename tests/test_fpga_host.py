"""The FPGA host driver's handling of what a board (or its absence) sends back, with a
transport that replays canned replies; and `rtmap fpga run` without a board."""

import numpy as np
import pytest

from rtmap.cli import main
from rtmap.errors import RtmapError
from rtmap.fpga import LinkClient
from rtmap.hostlink import Command, Status, reply, request
from rtmap.params import MachineParams
from rtmap.sim.layer import save_layer
from rtmap.sim.random_layer import random_input, random_layer


class Replay:
    """Answers each write with the next canned reply; records what was written."""

    def __init__(self, *replies: bytes):
        self.pending = bytearray(b"".join(replies))
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def read(self, size: int) -> bytes:
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data


INFO = reply(Status.OK, bytes([4, 0, 10, 0, 8, 0, 1]) + (512).to_bytes(4, "little")
             + bytes([8, 0, 4, 0]))


def test_connect_reads_the_machine_from_info():
    transport = Replay(INFO)
    link = LinkClient(transport)
    assert link.connect() == MachineParams(rows=4, tracks=10, domains=8, program_depth=512)
    assert (link.in_depth, link.out_depth) == (8, 4)
    assert transport.written == request(Command.INFO)


@pytest.mark.parametrize("replies, message", [
    ((), r"^link: no reply to INFO \(got 0 of 4 bytes\); is the board programmed and the port "
         r"right\?$"),
    ((reply(Status.OK)[:-1] + b"\x55",), r"^link: reply to INFO fails its CRC$"),
    ((b"\x00" + reply(Status.OK)[1:],), r"^link: reply to INFO starts with 0x00, not 0x5a$"),
    ((reply(Status.BUSY),), r"^link: INFO refused: BUSY$"),
    ((reply(Status.OK, b"\x01"),), r"^link: INFO gave 1 bytes, not 15$"),
])
def test_a_bad_reply_is_one_line(replies, message):
    with pytest.raises(RtmapError, match=message):
        LinkClient(Replay(*replies)).connect()


def test_a_program_for_another_machine_is_refused_before_it_is_sent(tmp_path):
    from rtmap.compiler.pipeline import compile_layer
    from rtmap.fpga import execute_on_link

    rng = np.random.default_rng(0)
    layer = random_layer(rng, kind="linear", out_channels=2, in_channels=3)
    compiled = compile_layer(layer, MachineParams(rows=4, tracks=12, domains=8,
                                                  program_depth=512), active_rows=4)
    transport = Replay(INFO)
    with pytest.raises(RtmapError, match=r"^the program is compiled for .*'tracks': 12.* but "
                       r"the board is .*'tracks': 10"):
        execute_on_link(compiled, [[]], LinkClient(transport))
    assert transport.written == request(Command.INFO)


def test_fpga_run_without_a_board_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(1)
    layer = random_layer(rng, kind="linear", out_channels=2, in_channels=3)
    save_layer(layer, tmp_path / "l.npz")
    np.save(tmp_path / "x.npy", random_input(rng, layer, batch=2))
    assert main(["fpga", "run", str(tmp_path / "l.npz"), "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "y.npy"), "--port", str(tmp_path / "ttyNONE")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'ttyNONE'}: cannot open the serial port")
    assert err.count("\n") == 1
