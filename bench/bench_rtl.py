"""RTL figures for issue #3: Verilog generation time, and Verilator simulation speed of the
whole processor running a compiled layer with no cocotb involvement per cycle.

Prints a table per figure; medians of repeated runs. `python bench/bench_rtl.py`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtmap.compiler.pipeline import compile_layer
from rtmap.hw.verilog import write_verilog
from rtmap.params import MachineParams
from rtmap.rtlsim import VERILATOR_WAIVERS
from rtmap.sim.machine import Machine
from rtmap.sim.random_layer import random_layer
from rtmap.toolchain import simulator_env

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "build" / "bench"


def median_time(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_times() -> None:
    print("Verilog generation (rtmap verilog), median seconds")
    print(f"{'rows x tracks x domains':>24} {'seconds':>8} {'size':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        for rows, repeats in ((64, 3), (256, 3), (1024, 1)):
            params = MachineParams(rows=rows, tracks=32, domains=16)
            path = Path(scratch) / f"top{rows}.v"

            def generate(path=path, params=params):
                path.unlink(missing_ok=True)
                write_verilog(params, path)
            seconds = median_time(generate, repeats)
            print(f"{f'{rows} x 32 x 16':>24} {seconds:8.1f} {path.stat().st_size / 1e6:7.1f}MB")


def layer_program(params: MachineParams) -> tuple[list[int], int]:
    layer = random_layer(np.random.default_rng(1), kind="linear", out_channels=16,
                         in_channels=16, in_bits=4)
    compiled = compile_layer(layer, params)
    return compiled.program.words, compiled.program.meta["stats"]["cycles"]


def build_harness(params: MachineParams, words: list[int], work: Path) -> tuple[Path, float]:
    simulator_env()
    work.mkdir(parents=True, exist_ok=True)
    verilog = write_verilog(params, work / "rtmap_top.v", program=words)
    start = time.perf_counter()
    subprocess.run(["verilator", "--cc", "--exe", "--build", "-O3", "-Wno-fatal",
                    *VERILATOR_WAIVERS, "--top-module", "rtmap_top", "-Mdir", str(work / "obj"),
                    "-o", "speed", "-MAKEFLAGS", "OPT_FAST=-O2", str(verilog),
                    str(HERE / "verilator" / "speed_main.cpp")],
                   check=True, capture_output=True, text=True)
    return work / "obj" / "speed", time.perf_counter() - start


def simulation_speed() -> None:
    print("\nSimulation speed running a compiled 16-input, 16-channel linear layer")
    print(f"{'machine':>14} {'model':>22} {'cycles/run':>10} {'cycles/s':>12} {'build s':>8}")
    for params in (MachineParams(rows=64, tracks=32, domains=16),
                   MachineParams(rows=256, tracks=32, domains=16)):
        words, cycles = layer_program(params)
        name = f"{params.rows}x{params.tracks}x{params.domains}"
        binary, build_seconds = build_harness(params, words, BUILD / f"speed_{name}")
        rates = []
        for _ in range(3):
            out = subprocess.run([str(binary), "20"], check=True, capture_output=True,
                                 text=True).stdout.split()
            edges, seconds, counted = int(out[0]), float(out[1]), int(out[2])
            assert counted == cycles, f"RTL counted {counted} cycles, compiler says {cycles}"
            rates.append(edges / seconds)
        print(f"{name:>14} {'Verilator, free-running':>22} {cycles:10d} "
              f"{statistics.median(rates):12,.0f} {build_seconds:8.1f}")
        machine = Machine(params)
        stream = [int(v) for v in np.random.default_rng(0).integers(0, 1 << 32, 10 ** 5)]
        seconds = median_time(lambda m=machine, w=words, s=stream: m.run(w, s), 3)
        print(f"{name:>14} {'instruction simulator':>22} {cycles:10d} "
              f"{cycles / seconds:12,.0f} {'-':>8}")


if __name__ == "__main__":
    simulation_speed()
    generation_times()
    sys.exit(0)
