"""The RTM-CAM array: R rows x T racetrack tracks of D domains, plus two flag bits per row.

Storage is split in two (the "port cache"):

* the T bits of every row at the current port domain, and every row's two flags, live in
  registers (R x (T + 2) flip-flops); searches, writes, row loads and row reads all work on
  these registers only, so they take one cycle and never touch the RAM;
* the other domains live in an :class:`amaranth.lib.memory.Memory` of D words, each word
  holding all rows' tracks at that domain (R x T bits); storage grows with D in RAM, not in
  flip-flops.

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

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import FLAGS, MachineParams

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

    Parameters
    ----------
    params : MachineParams
        ``rows`` R, ``tracks`` T and ``domains`` D are used; columns are W = T + 2.
    storage : "distributed" or "block"
        The RAM's read port: asynchronous or synchronous (see the module's docstring).

    Members
    -------
    search_key : In(W)
        Bit to compare in each column (tracks 0..T-1, then flags f0, f1).
    search_mask : In(W)
        Columns that take part in the search; a row whose masked columns all equal the key
        matches. No column masked: every row matches.
    match : Out(R)
        Per-row match, combinational from the cache and ``search_key``/``search_mask``.
    write_en : In(1)
        Write ``write_value`` into the ``write_mask`` columns of every row in ``write_rows``
        (at the next clock edge).
    write_rows : In(R)
        Rows the write goes to (the tag register).
    write_mask, write_value : In(W)
        Columns written, and the bit written into each.
    row : In(index_bits(R))
        Row that ``load_en`` writes and ``read_data`` shows.
    load_en : In(1)
        Write ``load_data`` into row ``row``'s tracks at the port that ``load_mask`` selects
        (flags untouched).
    load_data, load_mask : In(T)
        Bit j goes to track j, if mask bit j is set.
    read_data : Out(T)
        Row ``row``'s T track bits at the port, combinational.
    shift_en : In(1)
        Move the port to ``shift_to`` at the next clock edge (write the cache back, load the
        new domain). Nothing happens when ``shift_to`` equals ``port``.
    shift_to : In(index_bits(D))
        New port position, 0..D-1.
    port : Out(index_bits(D))
        Current port position (a register).

    At most one of ``shift_en``, ``load_en``, ``write_en`` should be high in a cycle; if more
    are, ``shift_en`` wins over ``load_en``, which wins over ``write_en``.

    The cache, flags and port are not reset by ``rst`` (the memory is non-volatile, like the
    RAM behind them); they start as zeros at power-on.
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
        rows, tracks, domains = self.params.rows, self.params.tracks, self.params.domains

        # Row r's tracks are bits [r*T, (r+1)*T), its flags bits [r*2, r*2+2). ``cache`` is
        # what the port sees; ``held`` is the register behind it (see ``storage``).
        held = Signal(rows * tracks, reset_less=True)
        cache = Signal(rows * tracks)
        flags = Signal(rows * FLAGS, reset_less=True)
        port = Signal(index_bits(domains), reset_less=True)
        m.d.comb += self.port.eq(port)

        # Written row by row: whole-array expressions (a key replicated R times, a tag bit
        # spread over T columns) come out of Amaranth as single Verilog lines too long for
        # Verilator's preprocessor at the default size.
        key_t, key_f = self.search_key[:tracks], self.search_key[tracks:]
        mask_t, mask_f = self.search_mask[:tracks], self.search_mask[tracks:]
        wmask_t, wmask_f = self.write_mask[:tracks], self.write_mask[tracks:]
        wval_t, wval_f = self.write_value[:tracks], self.write_value[tracks:]
        written_t = Signal(rows * tracks)
        written_f = Signal(rows * FLAGS)
        for r in range(rows):
            row_t = cache[r * tracks:(r + 1) * tracks]
            row_f = flags[r * FLAGS:(r + 1) * FLAGS]
            hit = Signal(name=f"match{r}")
            m.d.comb += [
                hit.eq(~(((row_t ^ key_t) & mask_t).any() | ((row_f ^ key_f) & mask_f).any())),
                self.match[r].eq(hit),
                written_t[r * tracks:(r + 1) * tracks].eq(
                    Mux(self.write_rows[r], (row_t & ~wmask_t) | (wval_t & wmask_t), row_t)),
                written_f[r * FLAGS:(r + 1) * FLAGS].eq(
                    Mux(self.write_rows[r], (row_f & ~wmask_f) | (wval_f & wmask_f), row_f)),
            ]

        m.d.comb += self.read_data.eq(cache.word_select(self.row, tracks))

        block = self.storage == "block" and domains > 1
        if domains > 1:
            mem = Memory(shape=rows * tracks, depth=domains, init=[])
            m.submodules.mem = mem
            wr = mem.write_port()
            rd = mem.read_port(domain="sync" if block else "comb")
            m.d.comb += [wr.addr.eq(port), wr.data.eq(cache), rd.addr.eq(self.shift_to)]
        if block:
            # After a shift the cache is the read port's latched data until a change lands.
            from_ram = Signal(reset_less=True)
            m.d.comb += [cache.eq(Mux(from_ram, rd.data, held)), rd.en.eq(0)]
        else:
            m.d.comb += cache.eq(held)

        with m.If(self.shift_en):
            if domains > 1:  # with one domain the port cannot move
                with m.If(self.shift_to != port):
                    m.d.comb += wr.en.eq(1)
                    m.d.sync += port.eq(self.shift_to)
                    if block:
                        m.d.comb += rd.en.eq(1)
                        m.d.sync += from_ram.eq(1)
                    else:
                        m.d.sync += held.eq(rd.data)
        with m.Elif(self.load_en):
            loaded = cache.word_select(self.row, tracks)
            if block:
                m.d.sync += [held.eq(cache), from_ram.eq(0)]
            m.d.sync += held.word_select(self.row, tracks).eq(
                (loaded & ~self.load_mask) | (self.load_data & self.load_mask))
        with m.Elif(self.write_en):
            m.d.sync += [held.eq(written_t), flags.eq(written_f)]
            if block:
                m.d.sync += from_ram.eq(0)
        return m
