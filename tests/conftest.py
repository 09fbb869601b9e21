"""Shared fixtures: RTL builds live under build/tests so they are reused between runs."""

import sys
from pathlib import Path

import pytest

from rtmap.toolchain import simulator_env

ROOT = Path(__file__).resolve().parent.parent
# tests/hw/hw_models.py holds the independent NumPy models of the machine, written from
# docs/ISA.md; the RTL benches and the instruction simulator's tests both check against them.
sys.path.insert(0, str(ROOT / "tests" / "hw"))
# tests/sim/network_models.py: a random network and an independent model of a whole chain.
sys.path.insert(0, str(ROOT / "tests" / "sim"))


@pytest.fixture(scope="session")
def rtl_build_dir() -> Path:
    """One directory per machine configuration inside; Verilator skips unchanged rebuilds."""
    simulator_env()
    path = ROOT / "build" / "tests" / "rtl"
    path.mkdir(parents=True, exist_ok=True)
    return path
