"""The FPGA host path without a board: `rtmap fpga run`'s host code drives the generated
Verilog of the processor behind its UART, bytes and all, under cocotb, and gets the
simulator's outputs bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from link_cases import linear_layer_runs

from rtmap.hw.host_link import UartProcessor
from rtmap.hw.verilog import component_verilog, write_if_changed
from rtmap.params import MachineParams
from rtmap.rtlsim import run_cocotb

HERE = Path(__file__).resolve().parent
PARAMS = MachineParams(rows=4, tracks=10, domains=8, program_depth=512)
DIVISOR = 4  # clock cycles per bit: the fastest the receiver takes, to keep the test short

# As the boards build it: the array in distributed RAM (ULX3S) and in block RAM (iCEBreaker).
STORAGES = [pytest.param(storage, marks=[pytest.mark.rtl, pytest.mark.xdist_group(
    f"uart_link_{storage}")]) for storage in ("distributed", "block")]


@pytest.mark.parametrize("storage", STORAGES)
def test_a_layer_runs_over_the_simulated_uart(storage, rtl_build_dir, tmp_path):
    compiled, streams, expected = linear_layer_runs(21, PARAMS, thresholds_levels=3)

    build = rtl_build_dir / f"uart_link_{storage}"
    verilog = write_if_changed(build / "uart_processor.v", component_verilog(
        UartProcessor(PARAMS, DIVISOR, in_depth=8, out_depth=4, storage=storage),
        "uart_processor"))
    job, result = tmp_path / "job.json", tmp_path / "result.json"
    job.write_text(json.dumps({"params": PARAMS.as_dict(), "divisor": DIVISOR,
                               "timeout_cycles": 20_000, "words": compiled.program.words,
                               "runs": streams, "result": str(result)}))
    run_cocotb(sources=[verilog], toplevel="uart_processor", test_module="cocotb_uart_link",
               build_dir=build, test_dir=HERE, extra_env={"RTMAP_JOB": str(job)})
    got = json.loads(result.read_text())
    assert len(got["runs"]) == len(expected) == 2
    for run, want in zip(got["runs"], expected, strict=True):
        assert run["error"] == 0
        assert run["outputs"] == want.outputs
        for name in ("searches", "writes", "shifts", "io_words"):
            assert run["counters"][name] == want.counters[name], name
    # The link is byte-bound and half duplex (the host waits for each reply): at a real
    # baud rate a run takes its bytes, both ways, at 10 bits each.
    words = sum(len(stream) for stream in streams)
    line_bytes = sum(got["run_bytes"])
    print(f"{words} input words took {line_bytes} bytes on the line: "
          f"{words * 115_200 / (10 * line_bytes):,.0f} input words/s at 115200 baud")
