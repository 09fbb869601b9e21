"""The RTM-CAM array: R rows x T racetrack tracks of D domains, plus two flag bits per row.

Storage is split in two (the "port cache"):

* the T bits of every row at the current port domain, and every row's two flags, live in
  registers (R x (T + 2) flip-flops); searches, writes, row loads and row reads all work on
  these registers only, so they take one cycle and never touch the RAM;
* the other domains live in :class:`amaranth.lib.memory.Memory` of D words, one memory per
  row group (:mod:`rtmap.hw.fanout`; in distributed RAM, one per ``RAM_PART_BITS`` tracks of
  it), each word holding its rows' tracks at that domain; storage grows with D in RAM, not
  in flip-flops.

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

from amaranth.hdl import Array, Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import FLAGS, MachineParams
from .fanout import (
    ISSUE_LATENCY,
    array_group_rows,
    by_region,
    delayed,
    group_regions,
    groups_per_region,
    index_split,
    region_copies,
    replica,
    row_groups,
)

__all__ = ["STORAGE_KINDS", "CamArray", "check_storage", "index_bits", "rejected"]


# Tracks at the port per part of a row group's RAM (about; at least one row): each part has
# its own copies of the RAM's addresses and write enable.
RAM_PART_BITS = 128


def ram_part_rows(tracks: int) -> int:
    """Rows per part of a row group's RAM: as many as hold about RAM_PART_BITS tracks."""
    return max(1, RAM_PART_BITS // tracks)


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
    in the cycle that begins ``ISSUE_LATENCY`` edges later (the *execute* cycle), whose
    results land at the edge ending it; one operation may be issued every cycle. The rows are
    cut into groups (:mod:`rtmap.hw.fanout`), each with its own registered copy of the issued
    inputs (fed by its region's copies), its own RAM and its own copy of the port register, so
    no net drives more than a group's rows.

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
        cycles after it (a register stage per group, per region, then one across them).
    shift_en : In(1); shift_to : In(index_bits(D)), issued
        Move the port to ``shift_to`` (0..D-1): write the cache back, load the new domain.
        Nothing happens when ``shift_to`` equals the port.
    port : Out(index_bits(D))
        The port position (a register), as the execute cycle sees it.

    At most one of ``shift_en``, ``load_en``, ``write_en`` should be issued in a cycle; if
    more are, ``shift_en`` wins over ``load_en``, which wins over ``write_en``.

    The cache, flags and port are not reset by ``rst`` (the memory is non-volatile, like the
    RAM behind them); they start as zeros at power-on. ``rst`` cancels the operations issued
    in the cycles it is high (their region copies reset); one issued earlier is already past
    them and is carried out. (So the reset reaches a few registers per region, not every
    group's copies.)
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
        group_rows = array_group_rows(tracks)
        split = index_split(group_rows)
        spans = row_groups(self.params.rows, group_rows)
        region_of = group_regions(len(spans), group_rows)
        # The first level of copies, once per region of groups: the issued inputs that each
        # group decodes for itself (the search, the row, the shift), and what a load or a
        # write does to a row's columns, decoded before this level (a shift wins over a load,
        # which wins over a write) so that no region's copy of an enable drives every column
        # of its groups. Those that say what changes reset to nothing: rst cancels what is
        # issued with it.
        loads = self.load_en & ~self.shift_en
        writes = self.write_en & ~self.load_en & ~self.shift_en
        wmask, wvalue = self.write_mask, self.write_value
        issued = {  # name: (value, resettable)
            "search_key": (self.search_key, False),
            "search_mask": (self.search_mask, False),
            "search_void": (self.search_void, False),
            "row": (self.row, False),
            "shift_en": (self.shift_en, True),
            "shift_to": (self.shift_to, False),
            "loads": (loads, True),
            "change_cols": (Mux(loads, self.load_mask, Mux(writes, wmask[:tracks], 0)), True),
            "change_to": (Mux(loads, self.load_data, wvalue[:tracks]), False),
            "flag_cols": (Mux(writes, wmask[tracks:], 0), True),
            "flag_to": (wvalue[tracks:], False),
        }
        regions = region_of[-1] + 1
        copies = {name: region_copies(m, value, name, regions, resettable)
                  for name, (value, resettable) in issued.items()}
        regional = [{name: copies[name][r] for name in issued} for r in range(regions)]
        groups = []
        for g, rows in enumerate(spans):
            group = _RowGroup(self, g, rows, split, regional[region_of[g]])
            m.submodules[f"group{g}"] = group
            groups.append(group)
            m.d.comb += self.match[rows.start:rows.stop].eq(group.match)
        m.d.comb += self.port.eq(groups[0].port)

        # Read-out, stage 2 (per region: the group) and 3 (the region), each choosing a cycle
        # after the stage before it, so the row's number is delayed to match. Each region
        # delays its own copy of the row: one register for all regions' selects would be a
        # net across the chip.
        in_region = (groups_per_region(group_rows) - 1).bit_length()
        region_reads = []
        for r, members in enumerate(by_region(groups, group_rows)):
            read = Signal(tracks, name=f"read_r{r}", reset_less=True)
            which = regional[r]["row"][split:split + in_region]
            if len(which):  # (else the region is one group)
                for delay in range(1, 3):  # the region's copy, then the execute cycle, stage 1
                    which = replica(m, which, f"read_group_d{delay}_region", r)
                m.d.sync += read.eq(Array(group.read for group in members)[which])
            else:
                m.d.sync += read.eq(members[0].read)
            region_reads.append(read)
        read_data = Signal(tracks, reset_less=True)
        region = self.row[split + in_region:]
        if len(region):  # (else there is one region)
            # to stage 3: the issue, stages 1 and 2
            region = delayed(m, region, ISSUE_LATENCY + 2, "read_region")
            m.d.sync += read_data.eq(Array(region_reads)[region])
        else:
            m.d.sync += read_data.eq(region_reads[0])
        m.d.comb += self.read_data.eq(read_data)
        return m


class _RowGroup(Elaboratable):
    """One group of the array's rows: its registered copy of the issued inputs, its cache,
    flags, port and RAM, its match vector and the first read-out stage."""

    def __init__(self, array: CamArray, group: int, rows: range, split: int, regional: dict):
        self.array, self.group, self.rows, self.split = array, group, rows, split
        self.regional = regional  # the region's copies of the issued inputs
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

        inputs = self.regional

        def issued(name):
            return replica(m, inputs[name], name, g)

        # The key and mask: a copy per part of ``ram_part_rows`` rows (whatever the storage),
        # so that a copy's bit reaches the compares of 4 rows at 32 tracks, not a group's 8:
        # at 256 x 32 x 16 a group's key copy through a row's match to its tag was 0.10 ns
        # late. (One part uses the group's own copies.)
        search_parts = row_groups(count, ram_part_rows(tracks))
        if len(search_parts) == 1:
            keys, masks = [issued("search_key")], [issued("search_mask")]
        else:
            keys, masks = ([replica(m, inputs[name], f"{name}_p{k}", g)
                            for k in range(len(search_parts))]
                           for name in ("search_key", "search_mask"))
        void = issued("search_void")
        shift_to = issued("shift_to")
        # For a load or write: the columns it changes and their new values (decoded before
        # the region's copies), and whether the rows it changes are the tagged ones or the
        # load's (one-hot). Decoded from the region's copies into the group's, so that what the
        # operation does to a bit is settled before the cycle that carries it out: whether the
        # port moves (from where this cycle leaves it: the RAM write and the cache load).
        change_cols, change_to = issued("change_cols"), issued("change_to")
        flag_cols, flag_to = issued("flag_cols"), issued("flag_to")
        moves = Signal()
        port_then = Mux(moves, shift_to, port)
        m.d.comb += moves.eq(replica(m, inputs["shift_en"] & (inputs["shift_to"] != port_then),
                                     "shift_moves", g))
        split, row, loads = self.split, inputs["row"], inputs["loads"]
        in_group = row[split:] == g if len(row) > split else Const(1)
        is_load = replica(m, loads, "is_load", g)
        load_rows = replica(m, Cat(loads & in_group & (row[:split] == i) for i in range(count)),
                            "load_rows", g)
        row_in_group = replica(m, row[:split], "row_in_group", g)

        # Row r's tracks are bits [r*T, (r+1)*T), its flags bits [r*2, r*2+2). ``cache`` is
        # what the port sees; ``held`` is the register behind it (see ``storage``).
        held = Signal(count * tracks, reset_less=True)
        cache = Signal(count * tracks)
        flags = Signal(count * FLAGS, reset_less=True)
        # ``unchanged``: what ``held`` takes in a row no load or write changes: the RAM's
        # read data in the cycle of a shift, else ``held``.
        unchanged = Signal(count * tracks)
        if domains > 1:
            with m.If(moves):
                m.d.sync += port.eq(shift_to)
            block = a.storage == "block"
            # (Block RAM: one per group; the parts are for distributed RAM's fan-out.)
            part_rows = count if block else ram_part_rows(tracks)
            parts = row_groups(count, part_rows)
            for k, part in enumerate(parts):
                bits = slice(part.start * tracks, part.stop * tracks)
                # (One part uses the group's own copies.)
                addresses = (shift_to, moves, port) if len(parts) == 1 else \
                    self._part_copies(m, k, port_then)
                self._ram_part(m, k, block, held[bits], cache[bits], unchanged[bits],
                               *addresses)
        else:
            m.d.comb += [cache.eq(held), unchanged.eq(held)]
        # Row by row: whole-group expressions (a key replicated over the rows, a tag bit spread
        # over T columns) come out of Amaranth as single Verilog lines, too long for
        # Verilator's preprocessor at large sizes. The tag (``write_rows``) is the latest
        # input of a bit's next value: one LUT decides the row, one the bit.
        for i, r in enumerate(self.rows):
            key, mask = keys[i // len(search_parts[0])], masks[i // len(search_parts[0])]
            key_t, key_f = key[:tracks], key[tracks:]
            mask_t, mask_f = mask[:tracks], mask[tracks:]
            row_t = cache[i * tracks:(i + 1) * tracks]
            row_f = flags[i * FLAGS:(i + 1) * FLAGS]
            tagged = a.write_rows[r]
            changed = Signal(name=f"changed_{i}")  # a load or write changes the row
            m.d.comb += changed.eq(Mux(is_load, load_rows[i], tagged))
            cols_t = change_cols & changed.replicate(tracks)
            cols_f = flag_cols & tagged.replicate(FLAGS)
            kept = unchanged[i * tracks:(i + 1) * tracks]
            m.d.comb += self.match[i].eq(~(void | ((row_t ^ key_t) & mask_t).any()
                                           | ((row_f ^ key_f) & mask_f).any()))
            m.d.sync += [
                held[i * tracks:(i + 1) * tracks].eq((kept & ~cols_t) | (change_to & cols_t)),
                row_f.eq((row_f & ~cols_f) | (flag_to & cols_f)),
            ]

        # Read-out, stage 1: the row within the group.
        m.d.sync += self.read.eq(Array(cache[i * tracks:(i + 1) * tracks]
                                       for i in range(count))[row_in_group])
        return m

    def _part_copies(self, m, k: int, port_then) -> tuple:
        """Part ``k``'s own copies of the shift's target, whether the shift moves the port,
        and the port, so that each copy drives one part's RAM (one copy for the group's 256
        bits at 32 tracks was 7.7 ns from its register to a RAM 7 columns away)."""
        g, domains = self.group, self.array.params.domains
        inputs = self.regional
        target = replica(m, inputs["shift_to"], f"ram_shift_to_p{k}", g)
        moves = replica(m, inputs["shift_en"] & (inputs["shift_to"] != port_then),
                        f"ram_moves_p{k}", g)
        port = Signal(index_bits(domains), name=f"ram_port_p{k}", reset_less=True)
        with m.If(moves):
            m.d.sync += port.eq(target)
        return target, moves, port

    def _ram_part(self, m, k: int, block: bool, held, cache, unchanged, target, moves, port):
        """Part ``k`` of the group's RAM: the tracks of some of its rows (``held``'s bits),
        addressed by ``target`` (read) and ``port`` (write) and written back when the
        shift ``moves`` the port. Drives the part's ``cache`` and ``unchanged`` (see
        ``storage``)."""
        domains = self.array.params.domains
        mem = Memory(shape=len(held), depth=domains, init=[])
        m.submodules[f"mem{k}"] = mem
        wr = mem.write_port()
        rd = mem.read_port(domain="sync" if block else "comb")
        m.d.comb += [wr.addr.eq(port), wr.data.eq(cache), wr.en.eq(moves),
                     rd.addr.eq(target)]
        if block:
            # After a shift the cache is the read port's latched data for a cycle, then the
            # register's copy of it.
            from_ram = Signal(name=f"from_ram_p{k}", reset_less=True)
            m.d.sync += from_ram.eq(moves)
            m.d.comb += [rd.en.eq(moves), cache.eq(Mux(from_ram, rd.data, held)),
                         unchanged.eq(cache)]
        else:
            m.d.comb += [cache.eq(held), unchanged.eq(Mux(moves, rd.data, held))]
