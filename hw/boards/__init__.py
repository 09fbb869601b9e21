"""FPGA board targets: the processor behind its UART host link, clocked by the board's PLL.

A :class:`Board` is what rtmap needs to know about one board beyond its amaranth-boards
platform: the part's family and resources (to refuse an array that cannot fit, and to say
which would), where the array's RAM goes, and the board's file in ``constraints/`` (clock
pin, target frequency, UART, LEDs).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources

from ...errors import RtmapError

__all__ = ["BOARDS", "LED_ROLES", "Board", "board_named", "constraints"]


@dataclass(frozen=True)
class Board:
    """One board target.

    name: what ``make fpga BOARD=`` takes.
    title: the board and part, for reports.
    platform: the amaranth-boards platform class, imported by name when first needed.
    family: "ecp5" or "ice40" (which PLL, which nextpnr).
    storage: where the array's domains live: "distributed" (LUT RAM) or "block" RAM.
    capacity: the part's resources as nextpnr counts them (see :mod:`.fit`).
    default_array: (rows, tracks, domains) built when none is given; rows None: as many as fit
        the part (:mod:`.fit`).
    program_depth: program memory words (the host reloads it per layer).
    """

    name: str
    title: str
    platform: str
    family: str
    storage: str
    capacity: dict
    default_array: tuple[int | None, int, int]
    program_depth: int

    def make_platform(self):
        module, _, cls = self.platform.rpartition(".")
        try:
            return getattr(__import__(module, fromlist=[cls]), cls)()
        except ImportError as exc:  # pragma: no cover - make setup installs it
            raise RtmapError(f"{module} is not installed; run make setup") from exc

    @property
    def constraints(self) -> dict:
        return constraints(self.name)


# What a board's LEDs can show (constraints file, [leds] roles).
LED_ROLES = ("heartbeat", "busy", "done", "error")
# What a constraints file must hold: table -> key -> type.
CONSTRAINT_KEYS = {
    "clock": {"resource": str, "input_mhz": (int, float)},
    "timing": {"target_mhz": (int, float)},
    "uart": {"resource": str, "baud": int},
    "leds": {"roles": list},
}


@functools.cache
def constraints(name: str) -> dict:
    """The board's ``constraints/<name>.toml``, checked for the keys the build reads."""
    where = f"constraints/{name}.toml"
    try:
        settings = tomllib.loads(
            resources.files("rtmap.constraints").joinpath(f"{name}.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RtmapError(f"{where}: {exc}") from None
    for table, keys in CONSTRAINT_KEYS.items():
        for key, kind in keys.items():
            value = settings.get(table, {}).get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RtmapError(f"{where}: [{table}] {key} is missing or not a "
                                 f"{getattr(kind, '__name__', 'number')}")
    unknown = sorted(set(map(str, settings["leds"]["roles"])) - set(LED_ROLES))
    if unknown:
        raise RtmapError(f"{where}: unknown LED role(s) {', '.join(unknown)}; roles: "
                         f"{', '.join(LED_ROLES)}")
    return settings


BOARDS = {
    "ulx3s": Board(
        name="ulx3s",
        title="Radiona ULX3S, ECP5 LFE5U-85F",
        platform="amaranth_boards.ulx3s.ULX3S_85F_Platform",
        family="ecp5",
        storage="distributed",
        # nextpnr-ecp5's counts for the 85F: LUT4s and flip-flops, RAM slices (TRELLIS_RAMW,
        # 16 x 4 bits each, two LUTs' worth) and 18 kbit block RAMs (DP16KD).
        capacity={"lut": 83640, "ff": 83640, "ram_distributed": 10455, "ram_block": 208},
        default_array=(256, 32, 16),
        program_depth=4096,
    ),
    "icebreaker": Board(
        name="icebreaker",
        title="1BitSquared iCEBreaker, iCE40 UP5K",
        platform="amaranth_boards.icebreaker.ICEBreakerPlatform",
        family="ice40",
        storage="block",
        # The UP5K: 5,280 logic cells (a LUT4 and a flip-flop each: so as many of either)
        # and 30 4 kbit block RAMs (SB_RAM40_4K); no distributed RAM.
        capacity={"logic_cells": 5280, "lut": 5280, "ff": 5280, "ram_distributed": 0,
                  "ram_block": 30},
        default_array=(None, 8, 8),
        program_depth=1024,
    ),
}


def board_named(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise RtmapError(f"unknown board {name!r}; boards: {', '.join(BOARDS)}") from None
