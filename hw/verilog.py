"""Verilog out of the Amaranth components."""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ..params import MachineParams
from .top import RtmapTop

__all__ = ["component_verilog", "write_verilog"]


def component_verilog(component: wiring.Component, name: str) -> str:
    """Verilog text of ``component`` as a module ``name``, ports named after its signature.

    Source locations are left out, so the text only changes when the hardware does.
    """
    return verilog.convert(component, name=name, emit_src=False)


def write_if_changed(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` unless it already holds exactly that (keeps the mtime, so
    simulators that rebuild on newer sources skip the rebuild)."""
    path = Path(path)
    try:
        if path.read_text() == text:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    temp.replace(path)  # atomic: a reader never sees half a file
    return path


def write_verilog(params: MachineParams, path, program=None, name: str = "rtmap_top") -> Path:
    """Write the whole processor (:class:`RtmapTop`) as Verilog module ``name`` to ``path``."""
    return write_if_changed(Path(path), component_verilog(RtmapTop(params, program), name))
