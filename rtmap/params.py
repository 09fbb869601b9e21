"""The one parameter record that the hardware, the compiler and the simulators all read."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import RtmapError

# Per-row flag columns (carry/borrow and a second scratch bit). They sit beside the tracks at
# the access port but are plain bits: they do not move when the tracks shift.
FLAGS = 2
# Nesting depth of the controller's counted loops.
LOOP_DEPTH = 4
# Width of every performance counter, in hardware and in the simulator (which wraps alike).
COUNTER_BITS = 32

_LIMITS = {
    "rows": (1, 65536),
    "tracks": (1, 4096),
    "domains": (1, 1024),
    "shift_latency": (1, 64),
    "program_depth": (2, 1 << 24),  # deep programs are streamed by a host, not held on chip
}


def _bits_for(value: int) -> int:
    """Bits needed to hold the unsigned integer ``value`` (at least 1)."""
    return max(1, int(value).bit_length())


@dataclass(frozen=True)
class MachineParams:
    """Size of one generated associative processor.

    rows:          R, processing elements (CAM rows); every row executes every instruction.
    tracks:        T, racetrack tracks per row, i.e. data columns at the access port.
    domains:       D, bits per track; the access port sits over one domain at a time.
    shift_latency: cycles a shift by one domain takes.
    program_depth: words of program memory.
    """

    rows: int = 256
    tracks: int = 32
    domains: int = 16
    shift_latency: int = 1
    program_depth: int = 4096

    def __post_init__(self) -> None:
        for name, (low, high) in _LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise RtmapError(f"parameter {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise RtmapError(f"parameter {name}={value} is out of range {low}..{high}")

    # Derived widths: the ISA layout and the hardware are built from these.
    @property
    def flags(self) -> int:
        return FLAGS

    @property
    def columns(self) -> int:
        """Columns at the access port: the tracks, then the flags."""
        return self.tracks + FLAGS

    @property
    def column_bits(self) -> int:
        return _bits_for(self.columns - 1)

    @property
    def imm_bits(self) -> int:
        """Immediates (rows, shift and loop counts) hold max(rows, domains); at least 8 bits."""
        return max(8, _bits_for(max(self.rows, self.domains)))

    @property
    def row_bits(self) -> int:
        return _bits_for(self.rows)  # the row pointer may step one past the last row

    @property
    def port_bits(self) -> int:
        return _bits_for(self.domains - 1)

    @property
    def pc_bits(self) -> int:
        return _bits_for(self.program_depth)  # the pc may step one past the last word

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> MachineParams:
        unknown = set(values) - set(_LIMITS)
        if unknown:
            raise RtmapError(f"unknown machine parameter(s): {', '.join(sorted(unknown))}")
        return cls(**values)
