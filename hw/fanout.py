"""Row groups and replicated control registers: how the array's wide nets stay short.

Every operation reaches the R x (T + 2) bits of the array at once, so a key bit, an enable or
the RAM address would each drive thousands of loads from one register, and on an FPGA such a
net alone takes most of a 10 ns cycle. Instead the rows are cut into groups (a power of two
rows each: 16 for the tag logic; for the array as many as hold about ``GROUP_BITS`` bits at
the port), and each group registers its own copy of every control input (the *replicas*):
each copy then drives one group's rows only. The copies are fed through a second level of
copies, one per *region* of neighbouring groups (``REGION_ROWS`` rows): the controller's
register drives a copy per region, each region's copy drives its groups' copies, so no net
both has many loads and crosses the chip. An issued input so takes ``ISSUE_LATENCY`` cycles
to reach the rows. (Each region has two copies, one after the other: with one, its copies
of the columns a load or write changes were 63 of the late endpoints of a 256-row build,
the controller's register being too far from some regions for the decode before them.)

Synthesis tools merge registers with the same input unless told not to; replicas carry
``keep`` (which Verilog-reading tools honour), and :data:`YOSYS_KEEP_REPLICAS` marks the
flip-flops of every wire with ``keep`` for Yosys, whose register merging looks at cells, not
wires. (So a register that a replica copies with the same input would need ``keep`` too, or
Yosys would merge it into the replica, which then drives both registers' loads; none does.)
"""

from __future__ import annotations

from amaranth.hdl import Shape, Signal

__all__ = ["GROUP_BITS", "ISSUE_LATENCY", "REGION_ROWS", "REPLICA_TAG", "RESULT_LATENCY",
           "TAG_GROUP_ROWS", "YOSYS_KEEP_REPLICAS", "array_group_rows", "by_region", "delayed",
           "group_regions", "groups_per_region", "index_split", "region_copies", "replica",
           "row_groups"]

GROUP_BITS = 512  # array bits at the port (rows x columns) per group, about
TAG_GROUP_ROWS = 16
REGION_ROWS = 64  # rows per region (or one group, if larger): a power of two
# Clock edges from an issued input to the cycle the rows carry it out: two copies per region
# (the first free to sit between the controller and the region), then the group's.
ISSUE_LATENCY = 3
# Cycles from the cycle whose rows (or tags) a result describes to the cycle it is on the
# output: the same tree the other way, a register stage per group, per region, then one
# across the regions.
RESULT_LATENCY = 3
REPLICA_TAG = "_replica"

# Run after reading the design, before synthesis: keep the flip-flops driving wires with
# ``keep`` (the replicas; no other wire carries it).
YOSYS_KEEP_REPLICAS = "setattr -set keep 1 a:keep %ci1:+$dff[Q] a:keep %d"


def array_group_rows(tracks: int) -> int:
    """Rows per array group: the power of two whose rows hold at most about GROUP_BITS bits
    (T tracks and two flags a row), at least one."""
    fitting = max(1, GROUP_BITS // (tracks + 2))
    return 1 << (fitting.bit_length() - 1)


def index_split(group_rows: int) -> int:
    """Low bits of a row index that number a row within its group of ``group_rows``."""
    return (group_rows - 1).bit_length()


def row_groups(rows: int, group_rows: int) -> list[range]:
    """The rows of each group of ``group_rows``, in order; the last group may be short."""
    return [range(first, min(first + group_rows, rows)) for first in range(0, rows, group_rows)]


def groups_per_region(group_rows: int) -> int:
    """Groups of ``group_rows`` (a power of two) per region: a power of two, at least one."""
    return max(1, REGION_ROWS // group_rows)


def group_regions(groups: int, group_rows: int) -> list[int]:
    """The region of each of ``groups`` consecutive groups of ``group_rows`` rows."""
    return [g // groups_per_region(group_rows) for g in range(groups)]


def by_region(items: list, group_rows: int) -> list[list]:
    """``items``, one per group, cut into the lists of each region's."""
    per_region = groups_per_region(group_rows)
    return [items[i:i + per_region] for i in range(0, len(items), per_region)]


def region_copies(m, value, name: str, regions: int, resettable: bool = False) -> list:
    """Per region, two :func:`replica` of ``value`` one after the other (the first free to
    sit between the controller and the region; only it is ``resettable``), the second to
    feed that region's groups' replicas: ``ISSUE_LATENCY`` counts both."""
    return [replica(m, replica(m, value, f"{name}_region", r, resettable),
                    f"{name}_region_late", r) for r in range(regions)]


def replica(m, value, name: str, group: int, resettable: bool = False) -> Signal:
    """A register holding ``value`` as of the last clock edge, for group ``group`` alone.

    Replicas ignore ``rst`` unless ``resettable``: only the array's region copies that say
    what an operation changes are, so that ``rst`` cancels the operations issued while it is
    high and reaches a few registers per region, not every group's copies (one net across
    the chip)."""
    shape = value.shape() if hasattr(value, "shape") else Shape.cast(value)
    copy = Signal(shape, name=f"{name}{REPLICA_TAG}{group}", reset_less=not resettable,
                  attrs={"keep": 1})
    m.d.sync += copy.eq(value)
    return copy


def delayed(m, value, cycles: int, name: str, resettable: bool = False):
    """``value`` as of ``cycles`` clock edges ago, through a chain of registers named
    ``<name>_d1`` .. (``value`` itself for 0 cycles). ``resettable`` chains reset to 0."""
    for late in range(1, cycles + 1):
        later = Signal(len(value), name=f"{name}_d{late}", reset_less=not resettable)
        m.d.sync += later.eq(value)
        value = later
    return value
