"""The whole associative processor: ``rtmap_top`` in Verilog, ports as in docs/ISA.md."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from ..params import MachineParams
from .cam_array import CamArray, check_storage, rejected
from .controller import COUNTER_NAMES, Controller, host_members
from .tags import TagLogic

__all__ = ["RtmapTop"]


class RtmapTop(wiring.Component):
    """Controller + tag logic + RTM-CAM array.

    Parameters
    ----------
    params : MachineParams
    program : list of int, optional
        Initial program memory contents (see :class:`Controller`): the processor can run it
        after reset with just a ``start`` pulse.
    storage : "distributed" or "block"
        The RAM kind behind the array (:class:`CamArray`); the cycle behaviour is the same.

    Members
    -------
    The ports of docs/ISA.md "Hardware ports" (``clk`` and ``rst`` are the ``sync`` domain's):
    ``start``, ``busy``, ``done``, ``error``, ``error_code``, the ``prog``, ``data_in`` and
    ``data_out`` streams, and the 32-bit counters ``cycles``, ``searches``, ``writes``,
    ``shifts``, ``io_words``. Their timing is :class:`Controller`'s.
    """

    def __init__(self, params: MachineParams, program=None, storage: str = "distributed"):
        if not isinstance(params, MachineParams):
            raise rejected(self, TypeError(f"params must be a MachineParams, not {params!r}"))
        self.params = params
        self.storage = check_storage(self, storage)
        try:
            self.controller = Controller(params, program)  # checks the program
        except ValueError as exc:
            raise rejected(self, exc) from None
        super().__init__(host_members(params))

    def elaborate(self, platform):
        m = Module()
        m.submodules.controller = ctrl = self.controller
        m.submodules.tags = tags = TagLogic(self.params.rows,
                                           count_width=self.params.imm_bits)
        m.submodules.array = array = CamArray(self.params, self.storage)

        wiring.connect(m, wiring.flipped(self.prog), ctrl.prog)
        wiring.connect(m, wiring.flipped(self.data_in), ctrl.data_in)
        wiring.connect(m, ctrl.data_out, wiring.flipped(self.data_out))
        m.d.comb += [
            ctrl.start.eq(self.start),
            self.busy.eq(ctrl.busy),
            self.done.eq(ctrl.done),
            self.error.eq(ctrl.error),
            self.error_code.eq(ctrl.error_code),
        ]
        m.d.comb += [getattr(self, name).eq(getattr(ctrl, name)) for name in COUNTER_NAMES]

        m.d.comb += [
            array.search_key.eq(ctrl.key),
            array.search_mask.eq(ctrl.mask),
            array.search_void.eq(ctrl.match_void),
            tags.match.eq(array.match),
            tags.update.eq(ctrl.tag_update),
            tags.combine.eq(ctrl.tag_combine),
            tags.clear.eq(ctrl.tag_clear),
            tags.shift.eq(ctrl.tag_shift),
            tags.shift_down.eq(ctrl.tag_shift_down),
            tags.shift_count.eq(ctrl.tag_shift_count),
            ctrl.tag_count.eq(tags.count),
            ctrl.tag_first.eq(tags.first_match),
            ctrl.tag_any.eq(tags.any_match),
            array.write_en.eq(ctrl.write_en),
            array.write_rows.eq(tags.tags),
            array.write_mask.eq(ctrl.mask),
            array.write_value.eq(ctrl.key),
            array.row.eq(ctrl.row),
            array.load_en.eq(ctrl.load_en),
            array.load_data.eq(ctrl.load_data),
            array.load_mask.eq(ctrl.load_mask),
            ctrl.read_data.eq(array.read_data),
            array.shift_en.eq(ctrl.shift_en),
            array.shift_to.eq(ctrl.shift_to),
        ]
        return m
