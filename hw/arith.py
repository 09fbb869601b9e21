"""The add/sub/mov micro-sequencer: one ARITH instruction becomes the searches, writes and
shifts of a bit-serial add, subtract or copy (``rtmap.isa.micro_steps`` lists them), one per
cycle.

A program then spends one word per add instead of a loop of LUT passes, and the controller
still drives the array exactly as those instructions would: same key and mask, same tag
updates, same shifts, same cycle count (minus the loop instructions).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, EnableInserter, Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from ..isa import ARITH_PASSES, ArithMode
from ..params import MachineParams
from .cam_array import index_bits

__all__ = ["ArithSequencer"]


class Stage(enum.Enum, shape=3):
    CLEAR_TAGS = 0  # search every row (the instruction's first cycle)
    CLEAR_CARRY = 1  # write f0 = 0
    PASS = 2  # the LUT passes at one domain: search, write, search, write, ...
    STEP = 3  # port up one domain (shift_latency cycles)
    RETURN = 4  # port back down width - 1 domains


class ArithSequencer(wiring.Component):
    """Steps through one ARITH while ``run`` is high; ``last`` marks its final cycle.

    Members
    -------
    run : In(1)
        The controller executes the ARITH this cycle (held through all its cycles).
    mode, dest, src, bits, width : In
        The instruction's fields (legal: the controller traps illegal ones).
    first : Out(1)
        The next ``run`` cycle is the instruction's first (the controller checks the port
        range then, before anything moves).
    search, write : Out(1); key, mask : Out(T + 2)
        This cycle's array operation (a SET search, or a write of ``key`` under ``mask``) if
        it runs: no output looks at ``run``, whose range check the controller applies.
    step_up, step_back : Out(1)
        Move the port up one domain / down ``width - 1`` domains this cycle.
    last : Out(1)
        This cycle completes the instruction (if it runs: ``last`` does not look at ``run``).
    """

    def __init__(self, params: MachineParams):
        self.params = params
        width_bits = params.domains.bit_length()
        super().__init__({
            "run": In(1),
            "mode": In(ArithMode),
            "dest": In(params.column_bits),
            "src": In(params.column_bits),
            "bits": In(width_bits),
            "width": In(width_bits),
            "first": Out(1),
            "search": Out(1),
            "write": Out(1),
            "key": Out(params.columns),
            "mask": Out(params.columns),
            "step_up": Out(1),
            "step_back": Out(1),
            "last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        latency = p.shift_latency
        stage = Signal(Stage)
        domain = Signal(index_bits(p.domains))  # the domain being worked on, from the start
        passes = max(len(table) for tables in ARITH_PASSES.values() for table in tables)
        pass_ = Signal(3)  # even: a pass's search, odd: its write
        assert 2 * passes <= 1 << len(pass_)
        longest_wait = max(1, (p.domains - 1) * latency)
        wait = Signal(range(longest_wait + 1))  # cycles of a shift still to go after this one
        m.d.comb += self.first.eq(stage == Stage.CLEAR_TAGS)

        # -- the LUT pass at (mode, full, pass) as key bits (C, B, A) and written bits (C, B)
        # Two facts about the domain, kept in registers beside it (they decide the last cycle,
        # which holds or moves the controller's whole fetch pipeline: no compare on that path).
        full = Signal()  # the source still has bits at this domain
        top = Signal()  # the last domain
        key_c, key_b, key_a, value_c, value_b = (Signal(name=n) for n in (
            "key_c", "key_b", "key_a", "value_c", "value_b"))
        last_pass = Signal()  # this cycle is the write of the domain's last pass
        with m.Switch(Cat(pass_, full, self.mode)):
            for mode, tables in ARITH_PASSES.items():
                for is_full, table in ((0, tables[1]), (1, tables[0])):
                    for step in range(2 * len(table)):
                        key, value = table[step // 2]
                        with m.Case(step | is_full << 3 | mode.value << 4):
                            m.d.comb += [key_c.eq(key[0]), key_b.eq(key[1]),
                                         value_c.eq(value[0]), value_b.eq(value[1]),
                                         last_pass.eq(step == 2 * len(table) - 1)]
                            if is_full:
                                m.d.comb += key_a.eq(key[2])

        def at(column, bit):
            """``bit`` placed at ``column`` of a T + 2 wide vector."""
            return (Const(0, p.columns) | bit) << column

        carry = p.tracks  # flag f0
        carry_bit = Const(1, p.columns) << carry
        is_write = pass_[0]

        # The last cycle, from the state alone (not ``run``, which waits on the controller's
        # range check: ``last`` holds or moves its whole fetch pipeline). The first cycle is
        # never the last, so the check has always passed when ``last`` is high.
        returned = Signal()  # the step back's last cycle
        # (a step back of one cycle, spelled without the multiply: width 2 at latency 1)
        one_cycle_back = self.width == 2 if latency == 1 else Const(0)
        m.d.comb += returned.eq(Mux(wait == 0, one_cycle_back, wait == 1))
        with m.Switch(stage):
            with m.Case(Stage.PASS):
                m.d.comb += self.last.eq(is_write & last_pass & top & (self.width == 1))
            with m.Case(Stage.RETURN):
                m.d.comb += self.last.eq(returned)

        # What this cycle issues, from the state alone; the state moves only while ``run``
        # is high (every sync statement here is enabled by it: see the return). Neither
        # waits on the controller's range check, which only gates the enables it issues.
        with m.Switch(stage):
            with m.Case(Stage.CLEAR_TAGS):
                m.d.comb += self.search.eq(1)  # no mask: every row matches
                m.d.sync += stage.eq(Stage.CLEAR_CARRY)
            with m.Case(Stage.CLEAR_CARRY):
                m.d.comb += [self.write.eq(1), self.mask.eq(carry_bit)]
                m.d.sync += [stage.eq(Stage.PASS), domain.eq(0), pass_.eq(0),
                             full.eq(self.bits != 0), top.eq(self.width == 1)]
            with m.Case(Stage.PASS):
                with m.If(is_write):
                    m.d.comb += [
                        self.write.eq(1),
                        self.mask.eq(carry_bit | at(self.dest, 1)),
                        self.key.eq(at(carry, value_c) | at(self.dest, value_b)),
                    ]
                with m.Else():
                    m.d.comb += [
                        self.search.eq(1),
                        self.mask.eq(carry_bit | at(self.dest, 1) | at(self.src, full)),
                        self.key.eq(at(carry, key_c) | at(self.dest, key_b)
                                    | at(self.src, key_a & full)),
                    ]
                m.d.sync += pass_.eq(pass_ + 1)
                with m.If(last_pass):
                    with m.If(~top):
                        m.d.sync += stage.eq(Stage.STEP)
                    with m.Elif(self.width == 1):
                        m.d.sync += stage.eq(Stage.CLEAR_TAGS)
                    with m.Else():
                        m.d.sync += stage.eq(Stage.RETURN)
            with m.Case(Stage.STEP):
                advance = Signal()
                with m.If(wait == 0):  # the shift's first cycle
                    m.d.comb += self.step_up.eq(1)
                    if latency == 1:
                        m.d.comb += advance.eq(1)
                    else:
                        m.d.sync += wait.eq(latency - 1)
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)
                    m.d.comb += advance.eq(wait == 1)
                with m.If(advance):
                    m.d.sync += [stage.eq(Stage.PASS), domain.eq(domain + 1), pass_.eq(0),
                                 full.eq(domain + 1 < self.bits),
                                 top.eq(domain + 1 == self.width - 1)]
            with m.Case(Stage.RETURN):
                with m.If(wait == 0):
                    m.d.comb += self.step_back.eq(1)
                    with m.If(~returned):
                        m.d.sync += wait.eq((self.width - 1) * latency - 1)
                with m.Else():
                    m.d.sync += wait.eq(wait - 1)
                with m.If(returned):
                    m.d.sync += stage.eq(Stage.CLEAR_TAGS)
        return EnableInserter({"sync": self.run})(m)

