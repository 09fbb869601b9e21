"""The PLLs that raise a board's clock to the processor's: divider search and the primitive.

Each family has a solver (:func:`ecp5_dividers`, :func:`ice40_dividers`) that picks the
dividers whose output comes closest to the wanted frequency inside the part's limits, the same
choice as Project Trellis' ``ecppll`` and IceStorm's ``icepll`` (the tests ask those tools), and
a component that instantiates the primitive and drives the ``sync`` domain (which its parent
defines): its clock is the PLL output and its reset is held until the PLL has locked and
then for ``RESET_CYCLES`` more (iCE40 block RAM reads as zeros for about 3 us after
configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Elaboratable, Instance, Module, ResetSignal, Signal

from ...errors import RtmapError

RESET_CYCLES = 1 << 12  # 41 us at 100 MHz, 13 us at 300 MHz: past the iCE40 BRAM wake-up
# Registers the reset passes on its way out, as the pins do in bench/bench_fpga.py: at
# 256 x 32 x 16 on the ULX3S the counter's compare reached every reset input through one
# net of LUTs, 13.5 ns (the first register may sit by the counter, the second by the loads).
RESET_STAGES = 2


@dataclass(frozen=True)
class Dividers:
    """One PLL setting: ``reference`` (input), ``feedback`` and ``output`` dividers, and the
    frequencies they give (MHz)."""

    reference: int
    feedback: int
    output: int
    out_mhz: float
    vco_mhz: float


def _closest(candidates, wanted_mhz: float, family: str, in_mhz: float, prefer=None) -> Dividers:
    best = None
    for cand in candidates:
        error = abs(cand.out_mhz - wanted_mhz)
        if best is None or error < best[0] or (
                prefer is not None and error == best[0] and prefer(cand) < prefer(best[1])):
            best = (error, cand)
    if best is None:
        raise RtmapError(f"no {family} PLL setting makes {wanted_mhz:g} MHz from {in_mhz:g} MHz")
    return best[1]


# ECP5 EHXPLLL limits (MHz), from Lattice TN1263 as ecppll uses them.
ECP5_PFD = (3.125, 400.0)
ECP5_VCO = (400.0, 800.0)
ECP5_OUT = (10.0, 400.0)


def ecp5_dividers(in_mhz: float, out_mhz: float) -> Dividers:
    """CLKI_DIV, CLKFB_DIV and CLKOP_DIV for CLKOP feedback: out = in * feedback / reference,
    VCO = out * output. Ties go to the VCO nearest 600 MHz, as Lattice's own tools choose."""
    if not ECP5_OUT[0] <= out_mhz <= ECP5_OUT[1]:
        raise RtmapError(f"an ECP5 PLL output must be {ECP5_OUT[0]:g} to {ECP5_OUT[1]:g} MHz, "
                         f"not {out_mhz:g}")

    def candidates():
        for reference in range(1, 129):
            pfd = in_mhz / reference
            if not ECP5_PFD[0] <= pfd <= ECP5_PFD[1]:
                continue
            for feedback in range(1, 81):
                for output in range(1, 129):
                    vco = pfd * feedback * output
                    if ECP5_VCO[0] <= vco <= ECP5_VCO[1]:
                        yield Dividers(reference, feedback, output, vco / output, vco)

    return _closest(candidates(), out_mhz, "ECP5", in_mhz, prefer=lambda d: abs(d.vco_mhz - 600))


# iCE40 SB_PLL40 limits (MHz), from Lattice TN1251 as icepll uses them.
ICE40_PFD = (10.0, 133.0)
ICE40_VCO = (533.0, 1066.0)
ICE40_OUT = (16.0, 275.0)


def ice40_dividers(in_mhz: float, out_mhz: float) -> Dividers:
    """DIVR, DIVF and DIVQ in SIMPLE feedback: out = in * (DIVF+1) / ((DIVR+1) * 2**DIVQ).
    The returned fields are the divisions themselves: reference DIVR+1, feedback DIVF+1,
    output 2**DIVQ."""
    if not ICE40_OUT[0] <= out_mhz <= ICE40_OUT[1]:
        raise RtmapError(f"an iCE40 PLL output must be {ICE40_OUT[0]:g} to {ICE40_OUT[1]:g} "
                         f"MHz, not {out_mhz:g}")

    def candidates():
        for divr in range(16):
            pfd = in_mhz / (divr + 1)
            if not ICE40_PFD[0] <= pfd <= ICE40_PFD[1]:
                continue
            for divf in range(128):
                vco = pfd * (divf + 1)
                if not ICE40_VCO[0] <= vco <= ICE40_VCO[1]:
                    continue
                for divq in range(1, 7):
                    yield Dividers(divr + 1, divf + 1, 1 << divq, vco / (1 << divq), vco)

    return _closest(candidates(), out_mhz, "iCE40", in_mhz)


def ice40_filter_range(pfd_mhz: float) -> int:
    """The loop filter setting for a phase detector frequency (TN1251's table)."""
    for limit, setting in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if pfd_mhz < limit:
            return setting
    return 6


def hold_reset_until_locked(m: Module, locked) -> None:
    """Hold ``sync``'s reset until ``locked`` has been high for RESET_CYCLES (counted in the
    ``sync`` domain itself, whose clock only runs once the PLL does), then RESET_STAGES
    cycles more: the reset is the last of RESET_STAGES registers."""
    count = Signal(range(RESET_CYCLES + 1), reset_less=True)  # not reset by what it drives
    with m.If(~locked):
        m.d.sync += count.eq(0)
    with m.Elif(count != RESET_CYCLES):
        m.d.sync += count.eq(count + 1)
    held = count != RESET_CYCLES
    for stage in range(RESET_STAGES):  # (high from configuration on)
        register = Signal(init=1, reset_less=True, name=f"reset_stage{stage}")
        m.d.sync += register.eq(held)
        held = register
    m.d.comb += ResetSignal("sync").eq(held)


class _Pll(Elaboratable):
    """A PLL primitive from a board clock to the ``sync`` domain at ``dividers``: the clock
    and the reset after lock are the same for every family; :meth:`primitive` is not."""

    def __init__(self, source, dividers: Dividers, in_mhz: float):
        self.source, self.dividers, self.in_mhz = source, dividers, in_mhz
        self.clock = Signal()  # the PLL output, which clocks ``sync``

    def primitive(self, locked) -> Instance:
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        locked = Signal()
        m.submodules.pll = self.primitive(locked)
        m.d.comb += ClockSignal("sync").eq(self.clock)
        hold_reset_until_locked(m, locked)
        return m


class Ecp5Pll(_Pll):
    """EHXPLLL from ``source`` (a board clock input's signal)."""

    def primitive(self, locked) -> Instance:
        d = self.dividers
        return Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.in_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{d.out_mhz:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=d.reference, p_CLKFB_DIV=d.feedback,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=d.output,
            p_CLKOP_CPHASE=d.output - 1, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_CLKI=self.source, i_CLKFB=self.clock, o_CLKOP=self.clock,
            i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
            i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_LOCK=locked,
        )


class Ice40Pll(_Pll):
    """SB_PLL40_PAD from ``source``, the clock pad itself (a ``dir="-"`` board resource)."""

    def primitive(self, locked) -> Instance:
        d = self.dividers
        return Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_DIVR=d.reference - 1, p_DIVF=d.feedback - 1, p_DIVQ=d.output.bit_length() - 1,
            p_FILTER_RANGE=ice40_filter_range(self.in_mhz / d.reference),
            i_PACKAGEPIN=self.source.io, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=self.clock, o_LOCK=locked,
        )
