"""The RTM-CAM array: R rows x T racetrack tracks of D domains, plus two flag bits per row.

Storage is split in two (the "port cache"):

* the T bits of every row at the current port domain, and every row's two flags, live in
  registers (R x (T + 2) flip-flops); searches, writes, row loads and row reads all work on
  these registers only, so they take one cycle and never touch the RAM;
* the other domains live in :class:`amaranth.lib.memory.Memory` of D words, one memory per
  row group (:mod:`rtmap.hw.fanout`), each word holding the group's tracks at that domain;
  storage grows with D in RAM, not in flip-flops.

A shift to port position P writes the cached tracks back to ``mem[port]`` and loads
``mem[P]`` into the cache, both in the same cycle; the flags do not move. ``mem[port]`` is
stale while the port is over it: the cache is the truth for that domain.

The RAM's read port is one of two kinds (``storage``), with the same cycle behaviour:

* ``"distributed"``: asynchronous, which maps to distributed (LUT) RAM (ECP5 and most FPGAs);
  the shift loads the cache register from the read data.
* ``"block"``: synchronous, for block RAM (iCE40 has no LUT RAM). The read port latches
  ``mem[P]`` at the shift's edge and holds it; until the next row load or write, the cache
  *is* that read data (a flag selects it), and the first change copies it into the register.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Elaboratable, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import FLAGS, MachineParams
from .fanout import array_group_rows, index_split, replica, row_groups

__all__ = ["STORAGE_KINDS", "CamArray", "check_storage", "index_bits", "rejected"]


def index_bits(count: int) -> int:
    """Width of an index into ``count`` items (at least 1 bit, so no port is zero-width)."""
    return max(1, (count - 1).bit_length())


STORAGE_KINDS = ("distributed", "block")


def check_storage(component, storage) -> str:
    if storage not in STORAGE_KINDS:
        raise rejected(component, ValueError(
            f"storage must be one of {', '.join(STORAGE_KINDS)}, not {storage!r}"))
    return storage


def rejected(component, exc: Exception) -> Exception:
    """``exc``, once ``component`` is marked as never to be elaborated: its constructor found a
    bad argument, and Amaranth must not also warn that the half-built component went unused."""
    component._MustUse__silence = True
    return exc


class CamArray(wiring.Component):
    """The rows of the associative processor at the access port, and the racetracks behind it.

    Operations are *issued*: the inputs marked so are sampled at a clock edge and carried out
    in the following cycle (the *execute* cycle), whose results land at the edge ending it.
    The rows are cut into groups (:mod:`rtmap.hw.fanout`), each with its own registered copy
    of the issued inputs, its own RAM and its own copy of the port register, so no net drives
    more than a group's rows.

    Parameters
    ----------
    params : MachineParams
        ``rows`` R, ``tracks`` T and ``domains`` D are used; columns are W = T + 2.
    storage : "distributed" or "block"
        The RAM's read port: asynchronous or synchronous (see the module's docstring).

    Members
    -------
    search_key, search_mask : In(W), issued
        Bit to compare in each column (tracks 0..T-1, then flags f0, f1), and the columns that
        take part; a row whose masked columns all equal the key matches (no column masked:
        every row matches).
    search_void : In(1), issued
        No row matches (a search whose slots contradict each other).
    match : Out(R)
        Per-row match in the execute cycle, combinational from the rows and the registered
        key and mask.
    write_en : In(1); write_mask, write_value : In(W), issued
        Write ``write_value`` into the ``write_mask`` columns of every row in ``write_rows``.
    write_rows : In(R)
        Rows the write goes to, in the execute cycle (the tag register).
    row : In(index_bits(R)), issued
        Row that ``load_en`` writes and ``read_data`` shows.
    load_en : In(1); load_data, load_mask : In(T), issued
        Write ``load_data`` into row ``row``'s tracks at the port that ``load_mask`` selects
        (bit j to track j; flags untouched).
    read_data : Out(T)
        Row ``row``'s T track bits at the port in the execute cycle, ``RESULT_LATENCY``
        cycles after it (a register stage per group, then one across the groups).
    shift_en : In(1); shift_to : In(index_bits(D)), issued
        Move the port to ``shift_to`` (0..D-1): write the cache back, load the new domain.
        Nothing happens when ``shift_to`` equals the port.
    port : Out(index_bits(D))
        The port position (a register), as the execute cycle sees it.

    At most one of ``shift_en``, ``load_en``, ``write_en`` should be issued in a cycle; if
    more are, ``shift_en`` wins over ``load_en``, which wins over ``write_en``.

    The cache, flags and port are not reset by ``rst`` (the memory is non-volatile, like the
    RAM behind them); they start as zeros at power-on. ``rst`` cancels an issued operation.
    """

    def __init__(self, params: MachineParams, storage: str = "distributed"):
        if not isinstance(params, MachineParams):
            raise rejected(self, TypeError(f"params must be a MachineParams, not {params!r}"))
        self.params = params
        self.storage = check_storage(self, storage)
        rows, tracks, domains = params.rows, params.tracks, params.domains
        columns = tracks + FLAGS
        super().__init__({
            "search_key": In(columns),
            "search_mask": In(columns),
            "search_void": In(1),
            "match": Out(rows),
            "write_en": In(1),
            "write_rows": In(rows),
            "write_mask": In(columns),
            "write_value": In(columns),
            "row": In(index_bits(rows)),
            "load_en": In(1),
            "load_data": In(tracks),
            "load_mask": In(tracks),
            "read_data": Out(tracks),
            "shift_en": In(1),
            "shift_to": In(index_bits(domains)),
            "port": Out(index_bits(domains)),
        })

    def elaborate(self, platform):
        m = Module()
        tracks = self.params.tracks
        split = index_split(array_group_rows(tracks))
        groups = []
        for g, rows in enumerate(row_groups(self.params.rows, array_group_rows(tracks))):
            group = _RowGroup(self, g, rows, split)
            m.submodules[f"group{g}"] = group
            groups.append(group)
            m.d.comb += self.match[rows.start:rows.stop].eq(group.match)
        m.d.comb += self.port.eq(groups[0].port)

        # Read-out, stage 2: the group of the row read, chosen a cycle after the groups chose
        # the row within them (its group number delayed to match).
        row_group = Signal(max(1, len(self.row) - split), reset_less=True)
        group_then = Signal.like(row_group)
        read_data = Signal(tracks, reset_less=True)
        m.d.sync += [
            row_group.eq(self.row[split:] if len(self.row) > split else 0),
            group_then.eq(row_group),
            read_data.eq(Array(group.read for group in groups)[group_then]),
        ]
        m.d.comb += self.read_data.eq(read_data)
        return m


class _RowGroup(Elaboratable):
    """One group of the array's rows: its registered copy of the issued inputs, its cache,
    flags, port and RAM, its match vector and the first read-out stage."""

    def __init__(self, array: CamArray, group: int, rows: range, split: int):
        self.array, self.group, self.rows, self.split = array, group, rows, split
        tracks = array.params.tracks
        self.match = Signal(len(rows), name=f"match_g{group}")
        self.port = Signal(index_bits(array.params.domains), name=f"port_g{group}",
                           reset_less=True)
        self.read = Signal(tracks, name=f"read_g{group}", reset_less=True)

    def elaborate(self, platform):
        m = Module()
        a, g = self.array, self.group
        tracks, domains = a.params.tracks, a.params.domains
        count = len(self.rows)
        port = self.port

        def issued(name, resettable=False):
            return replica(m, getattr(a, name), name, g, resettable)

        key, mask, void = issued("search_key"), issued("search_mask"), issued("search_void")
        write_en = issued("write_en", resettable=True)
        wmask, wvalue = issued("write_mask"), issued("write_value")
        load_en = issued("load_en", resettable=True)
        load_data, load_mask = issued("load_data"), issued("load_mask")
        shift_en = issued("shift_en", resettable=True)
        shift_to = issued("shift_to")
        # Whether the issued shift moves the port (from where this cycle leaves it), decided
        # before it is carried out: that one register enables the RAM write and the cache.
        moves = Signal()
        port_then = Mux(moves, shift_to, port)
        m.d.comb += moves.eq(replica(m, a.shift_en & (a.shift_to != port_then), "shift_moves",
                                     g, resettable=True))
        # The row as (is it in this group, which of its rows), each a register of its own.
        split = self.split
        in_group = a.row[split:] == g if len(a.row) > split else Const(1)
        row_here = replica(m, in_group, "row_here", g)
        row_in_group = replica(m, a.row[:split], "row_in_group", g)

        # Row r's tracks are bits [r*T, (r+1)*T), its flags bits [r*2, r*2+2). ``cache`` is
        # what the port sees; ``held`` is the register behind it (see ``storage``).
        held = Signal(count * tracks, reset_less=True)
        cache = Signal(count * tracks)
        flags = Signal(count * FLAGS, reset_less=True)

        # Written row by row: whole-group expressions (a key replicated over the rows, a tag
        # bit spread over T columns) come out of Amaranth as single Verilog lines, too long
        # for Verilator's preprocessor at large sizes.
        key_t, key_f = key[:tracks], key[tracks:]
        mask_t, mask_f = mask[:tracks], mask[tracks:]
        wmask_t, wmask_f = wmask[:tracks], wmask[tracks:]
        wval_t, wval_f = wvalue[:tracks], wvalue[tracks:]
        written_t = Signal(count * tracks)
        written_f = Signal(count * FLAGS)
        for i, r in enumerate(self.rows):
            row_t = cache[i * tracks:(i + 1) * tracks]
            row_f = flags[i * FLAGS:(i + 1) * FLAGS]
            tagged = a.write_rows[r]
            m.d.comb += [
                self.match[i].eq(~(void | ((row_t ^ key_t) & mask_t).any()
                                   | ((row_f ^ key_f) & mask_f).any())),
                written_t[i * tracks:(i + 1) * tracks].eq(
                    Mux(tagged, (row_t & ~wmask_t) | (wval_t & wmask_t), row_t)),
                written_f[i * FLAGS:(i + 1) * FLAGS].eq(
                    Mux(tagged, (row_f & ~wmask_f) | (wval_f & wmask_f), row_f)),
            ]

        # Read-out, stage 1: the row within the group.
        m.d.sync += self.read.eq(Array(cache[i * tracks:(i + 1) * tracks]
                                       for i in range(count))[row_in_group])

        block = a.storage == "block" and domains > 1
        if domains > 1:
            mem = Memory(shape=count * tracks, depth=domains, init=[])
            m.submodules.mem = mem
            wr = mem.write_port()
            rd = mem.read_port(domain="sync" if block else "comb")
            m.d.comb += [wr.addr.eq(port), wr.data.eq(cache), rd.addr.eq(shift_to)]
        if block:
            # After a shift the cache is the read port's latched data until a change lands.
            from_ram = Signal(reset_less=True)
            m.d.comb += [cache.eq(Mux(from_ram, rd.data, held)), rd.en.eq(0)]
        else:
            m.d.comb += cache.eq(held)

        with m.If(moves):
            if domains > 1:  # with one domain the port cannot move
                m.d.comb += wr.en.eq(1)
                m.d.sync += port.eq(shift_to)
                if block:
                    m.d.comb += rd.en.eq(1)
                    m.d.sync += from_ram.eq(1)
                else:
                    m.d.sync += held.eq(rd.data)
        with m.Elif(shift_en):
            pass  # a shift to where the port is: nothing happens, nor does a load or write
        with m.Elif(load_en):
            with m.If(row_here):
                loaded = cache.word_select(row_in_group, tracks)
                if block:
                    m.d.sync += [held.eq(cache), from_ram.eq(0)]
                m.d.sync += held.word_select(row_in_group, tracks).eq(
                    (loaded & ~load_mask) | (load_data & load_mask))
        with m.Elif(write_en):
            m.d.sync += [held.eq(written_t), flags.eq(written_f)]
            if block:
                m.d.sync += from_ram.eq(0)
        return m
