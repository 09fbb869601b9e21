"""Whether an array fits a board's part, decided before any tool runs, and which would.

RAM is counted exactly from the memories the design has (the array's domains, one memory per
row group; program memory and the kinds memory beside it; the processor's output queue; the
link's two FIFOs) and the part's RAM shapes. (The two-word buffered FIFOs between link and
processor are registers: a word in the output register, one in a memory of one word.) Logic
is a linear model per family in the array's cells (rows x columns) and rows, fitted to
Yosys/nextpnr results of whole board builds (``bench/bench_boards.py`` prints estimate and
result side by side). Logic may only fill ``LOGIC_HEADROOM`` of the part:
nextpnr needs room to place and route.
"""

from __future__ import annotations

import math

from ...errors import RtmapError
from ...isa import instruction_layout
from ...params import MachineParams
from ..controller import OUTPUT_QUEUE
from ..fanout import array_group_rows, row_groups
from ..fetch import KIND_BITS
from ..host_link import DEFAULT_FIFO_DEPTH, HANDOFF_WORDS
from . import Board

# The share of the part's logic an array may use, per family: nextpnr needs room. On the
# ECP5, what has been seen to place and route with the pipelined processor of issue #3
# (bench/bench_fpga.py, processor alone): 256 x 32 x 16 at 67% of the 85F (99.8 MHz, about
# 45 minutes of nextpnr) and 320 x 32 x 16 at 83% (75 MHz, 47 minutes). (Before #3, 128 x 32
# x 16 at 46% took router2 25 minutes and 256 x 32 x 16 at 84% did not route in 40.) The
# iCE40 arrays are small: 96% of the UP5K placed and routed in two minutes (20 x 8 x 8).
LOGIC_HEADROOM = {"ecp5": 0.84, "ice40": 0.97}

# Block RAM shapes (depth, width) per family: ECP5 DP16KD (18 kbit), iCE40 SB_RAM40_4K (4 kbit).
BLOCK_SHAPES = {
    "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
}
DISTRIBUTED_SHAPE = (16, 4)  # ECP5 TRELLIS_DPR16X4

# Logic model per family: LUTs and flip-flops = base + per_cell x rows x (tracks + 2)
# + per_row x rows. ECP5 LUTs: least squares through the pipelined processor's builds alone
# (bench/bench_fpga.py: 2,677, 9,377, 56,149 and 70,030 LUT4s at 16 x 8 x 8, 64 x 16 x 16,
# 256 x 32 x 16 and 320 x 32 x 16, within 90 of each), its base raised by what a board build
# adds (UART, host link, PLL: 1,170, the 8 x 8 x 4 board build's 3,173 LUTs less the
# processor's share there). (Before #3 the ULX3S built 38,480 LUTs at 128 x 32 x 16.) The
# pipelined processor's flip-flops grow with the cells alone (each row's cache and flags,
# and the copies of what is issued): 1,341, 3,326, 19,099 and 24,498 at those sizes, 2.11 a
# cell within 3% from 64 x 16 x 16 up; the base is the 8 x 8 x 4 board build's 1,700 less
# its 80 cells' share. iCEBreaker, pipelined:
# 16 x 8 x 8 and 20 x 8 x 8 placed 4,522 and 5,093 logic cells (1,694 and 1,908 flip-flops;
# the 20 rows in two row groups of the array, where they are one now, at 5,020); the line
# through the two. Since the fetch's decode stage and the second region copies, 20 x 8 x 8
# placed 4,876 cells with 2,381 flip-flops: the flip-flop line moved up through it.
LOGIC = {
    "ecp5": {"lut": (2520, 5.55, 25.6), "ff": (1531, 2.11, 0.0)},
    "ice40": {"lut": (2234, 14.3, 0.0), "ff": (1311, 5.35, 0.0)},
}


def _blocks(depth: int, width: int, shapes) -> int:
    """Fewest RAM blocks of the given shapes holding ``depth`` words of ``width`` bits."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in shapes)


def estimate(board: Board, params: MachineParams) -> dict[str, int]:
    """The resources ``params``'s board build needs, in the units of ``board.capacity``."""
    family = board.family
    rows, tracks, domains = params.rows, params.tracks, params.domains
    cells = rows * (tracks + params.flags)
    lut_base, lut_cell, lut_row = LOGIC[family]["lut"]
    ff_base, ff_cell, ff_row = LOGIC[family]["ff"]
    need = {
        "lut": round(lut_base + lut_cell * cells + lut_row * rows),
        "ff": round(ff_base + ff_cell * cells + ff_row * rows),
        "ram_distributed": 0,
    }
    shapes = BLOCK_SHAPES[family]
    block = (_blocks(params.program_depth, instruction_layout(params).size, shapes)
             + _blocks(params.program_depth, KIND_BITS, shapes)  # fetch's next-word kinds
             + 2 * _blocks(DEFAULT_FIFO_DEPTH, tracks, shapes))
    # The handoff FIFOs are counted as registers: a buffered FIFO keeps a word in its output
    # register and the rest in a memory, which holds one word in flip-flops but more in RAM.
    assert HANDOFF_WORDS <= 2, "count the handoff FIFOs' memories"
    if family == "ecp5":  # these read asynchronously: LUT RAM (iCE40: flip-flops)
        need["ram_distributed"] += _blocks(OUTPUT_QUEUE, tracks, (DISTRIBUTED_SHAPE,))
    if domains > 1:
        for group in row_groups(rows, array_group_rows(tracks)):
            if board.storage == "distributed":
                need["ram_distributed"] += _blocks(domains, len(group) * tracks,
                                                   (DISTRIBUTED_SHAPE,))
            else:
                block += _blocks(domains, len(group) * tracks, shapes)
    need["ram_block"] = block
    if family == "ice40":  # the model counts logic cells, each a LUT and a flip-flop
        need["logic_cells"] = max(need["lut"], need["ff"])
    return need


def shortfall(board: Board, params: MachineParams) -> str | None:
    """What ``params`` needs beyond ``board``'s part, or None when it fits."""
    need = estimate(board, params)
    headroom = LOGIC_HEADROOM[board.family]
    for key, label, share in (("logic_cells", "logic cells", headroom),
                              ("lut", "LUTs", headroom), ("ff", "flip-flops", 1.0),
                              ("ram_block", "block RAMs", 1.0),
                              ("ram_distributed", "distributed RAM slices", 1.0)):
        if key not in need:
            continue
        room = int(board.capacity[key] * share)
        if need[key] > room:
            return f"about {need[key]} {label}, more than the {room} it can use"
    return None


def largest_rows(board: Board, tracks: int, domains: int, **rest) -> int:
    """The most rows that fit with these tracks and domains (0 if not even one)."""
    def fits(rows: int) -> bool:
        return shortfall(board, MachineParams(rows=rows, tracks=tracks, domains=domains,
                                              **rest)) is None

    if not fits(1):
        return 0
    low, high = 1, 2
    while high <= 65536 and fits(high):
        low, high = high, high * 2
    high = min(high, 65537)
    while high - low > 1:  # fits(low), not fits(high)
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def check_fits(board: Board, params: MachineParams) -> None:
    """Raise :class:`RtmapError` naming what does not fit and the rows that would."""
    short = shortfall(board, params)
    if short is None:
        return
    rows = largest_rows(board, params.tracks, params.domains,
                        shift_latency=params.shift_latency, program_depth=params.program_depth)
    hint = (f"{rows} rows of {params.tracks} tracks x {params.domains} domains would fit"
            if rows else f"no array of {params.tracks} tracks x {params.domains} domains fits")
    raise RtmapError(f"{params.rows} x {params.tracks} x {params.domains} does not fit the "
                     f"{board.title}: it needs {short}; {hint}")


def board_array(board: Board, rows: int | None = None, tracks: int | None = None,
                domains: int | None = None, shift_latency: int | None = None,
                program_depth: int | None = None) -> MachineParams:
    """The machine a board build makes: what is given, the rest from the board. Without
    ``rows``, the board's default rows or, if fewer fit (or it has no default), the most
    that fit."""
    default_rows, default_tracks, default_domains = board.default_array
    def chosen(value, default):
        return default if value is None else value

    given = {"tracks": chosen(tracks, default_tracks),
             "domains": chosen(domains, default_domains),
             "shift_latency": chosen(shift_latency, 1),
             "program_depth": chosen(program_depth, board.program_depth)}
    if rows is None:
        most = largest_rows(board, **given)
        rows = most if default_rows is None else min(default_rows, most)
        rows = rows or 1  # nothing fits: let check_fits say so
    params = MachineParams(rows=rows, **given)
    check_fits(board, params)
    return params
