"""Program files: `program.hex` ($readmemh words) and the `program.json` sidecar beside it.

The sidecar records the machine parameters a program was compiled for, so running it on a
machine of other parameters is an error rather than garbage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RtmapError
from .isa import ISA_VERSION, hex_digits, instruction_bits
from .params import MachineParams

FORMAT = "rtmap-program"


@dataclass
class Program:
    params: MachineParams
    words: list[int]
    meta: dict = field(default_factory=dict)

    def save(self, directory) -> tuple[Path, Path]:
        """Write ``directory/program.hex`` and ``directory/program.json``; return both paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        digits = hex_digits(self.params)
        hex_path, json_path = directory / "program.hex", directory / "program.json"
        hex_path.write_text("".join(f"{word:0{digits}x}\n" for word in self.words))
        sidecar = {
            "format": FORMAT,
            "isa_version": ISA_VERSION,
            "params": self.params.as_dict(),
            "instruction_bits": instruction_bits(self.params),
            "length": len(self.words),
            **self.meta,
        }
        json_path.write_text(json.dumps(sidecar, indent=2) + "\n")
        return hex_path, json_path


def _read_sidecar(hex_path: Path) -> dict:
    json_path = hex_path.with_suffix(".json")
    if not json_path.is_file():
        raise RtmapError(f"{hex_path.name}: sidecar {json_path.name} not found; it records the "
                         "machine parameters the program was compiled for")
    try:
        sidecar = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        raise RtmapError(f"{json_path.name}: not readable JSON ({exc})") from None
    if not isinstance(sidecar, dict) or sidecar.get("format") != FORMAT:
        raise RtmapError(f"{json_path.name}: not an rtmap program sidecar (no "
                         f"\"format\": \"{FORMAT}\")")
    if sidecar.get("isa_version") != ISA_VERSION:
        raise RtmapError(f"{json_path.name}: program is for ISA version "
                         f"{sidecar.get('isa_version')}, this rtmap implements {ISA_VERSION}")
    return sidecar


def load_program(hex_path) -> Program:
    """Read a program and its sidecar, checking one against the other."""
    hex_path = Path(hex_path)
    if not hex_path.is_file():
        raise RtmapError(f"{hex_path.name}: no such file")
    sidecar = _read_sidecar(hex_path)
    json_name = hex_path.with_suffix(".json").name
    try:
        params = MachineParams.from_dict(sidecar.get("params") or {})
    except (RtmapError, TypeError) as exc:
        raise RtmapError(f"{json_name}: bad machine parameters: {exc}") from None
    width = instruction_bits(params)
    words = []
    for number, line in enumerate(hex_path.read_text().splitlines(), start=1):
        text = line.split("//")[0].strip()
        if not text:
            continue
        try:
            word = int(text, 16)
        except ValueError:
            raise RtmapError(f"{hex_path.name} line {number}: {text!r} is not a hexadecimal "
                             "word") from None
        if word >> width:
            raise RtmapError(f"{hex_path.name} line {number}: {text} is wider than the "
                             f"{width}-bit instructions of this machine")
        words.append(word)
    if sidecar.get("length") != len(words):
        raise RtmapError(f"{hex_path.name}: holds {len(words)} words but {json_name} says "
                         f"length {sidecar.get('length')}")
    meta = {k: v for k, v in sidecar.items()
            if k not in ("format", "isa_version", "params", "instruction_bits", "length")}
    return Program(params, words, meta)


def check_params(program: Program, params: MachineParams) -> None:
    """Refuse to run ``program`` on a machine other than the one it was compiled for."""
    ours, theirs = program.params.as_dict(), params.as_dict()
    differ = [name for name in ours if ours[name] != theirs[name]]
    if differ:
        raise RtmapError(
            "program was compiled for " + ", ".join(f"{n}={ours[n]}" for n in differ)
            + " but the machine has " + ", ".join(f"{n}={theirs[n]}" for n in differ))
