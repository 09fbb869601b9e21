"""The add/sub/mov micro-sequencer: one ARITH instruction becomes the searches, writes and
shifts of a bit-serial add, subtract or copy (``rtmap.isa.micro_steps`` lists them), one per
cycle.

A program then spends one word per add instead of a loop of LUT passes, and the controller
still drives the array exactly as those instructions would: same key and mask, same tag
updates, same shifts, same cycle count (minus the loop instructions).
"""

from __future__ import annotations

from types import SimpleNamespace

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
        The instruction's fields (legal: the controller traps illegal ones), held from its
        first ``run`` cycle to its last.
    first : Out(1)
        The next ``run`` cycle is the instruction's first (the controller checks the port
        range then, before anything moves).
    search, write : Out(1); key, mask : Out(T + 2)
        This cycle's array operation (a SET search, or a write of ``key`` under ``mask``) if
        it runs: no output looks at ``run``, whose range check the controller applies.
        ``key`` and ``mask`` come from registers decided in the cycle before.
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
        # ``steps`` holds the state, which moves only while ``run`` is high (every sync
        # statement in it is enabled by ``run``: see the end); ``m`` holds the registers that
        # are decided a cycle ahead from the state the next cycle will have if it runs, with
        # no enable, so ``run`` (late: it waits on the controller's range check) reaches only
        # the state. The controller runs an instruction in every cycle from its first, so
        # the state a cycle ahead is the next cycle's except after an idle first cycle
        # (``run`` low, so the state stays): then the carry's clearing write is decided
        # ahead, and the first cycle's mask hides it.
        m, steps = Module(), Module()
        p = self.params
        latency = p.shift_latency
        stage = Signal(Stage)
        domain = Signal(index_bits(p.domains))  # the domain being worked on, from the start
        passes = max(len(table) for tables in ARITH_PASSES.values() for table in tables)
        pass_ = Signal(3)  # even: a pass's search, odd: its write
        assert 2 * passes <= 1 << len(pass_)
        longest_wait = max(1, (p.domains - 1) * latency)
        wait = Signal(range(longest_wait + 1))  # cycles of a shift still to go after this one
        full = Signal()  # the source still has bits at this domain
        top = Signal()  # the last domain
        first = Signal(init=1)  # stage == CLEAR_TAGS
        state = SimpleNamespace(stage=stage, domain=domain, pass_=pass_, wait=wait, full=full,
                                top=top)
        # The state of the next cycle if this one runs: the state, but as the cases below
        # change it.
        following = SimpleNamespace(**{name: Signal.like(value, name=f"next_{name}")
                                       for name, value in vars(state).items()})
        steps.d.comb += [getattr(following, name).eq(value)
                         for name, value in vars(state).items()]
        steps.d.sync += [value.eq(getattr(following, name))
                         for name, value in vars(state).items()]
        steps.d.sync += first.eq(following.stage == Stage.CLEAR_TAGS)
        m.d.comb += self.first.eq(first)

        # ``full`` and ``top`` of domain 0 and of the domain above this one, as of the cycle
        # before (the fields hold through an instruction, and the domain through the cycle
        # before a step): so the next state is a choice of registers, not of compares.
        bottom, above = (SimpleNamespace(full=Signal(name=f"{name}_full", reset_less=True),
                                         top=Signal(name=f"{name}_top", reset_less=True))
                         for name in ("bottom", "above"))
        m.d.sync += [bottom.full.eq(self.bits != 0), bottom.top.eq(self.width == 1),
                     above.full.eq(domain + 1 < self.bits),
                     above.top.eq(domain + 1 == self.width - 1)]

        # The step back's last cycle: a step of one cycle (width 2 at latency 1, spelled
        # without the multiply), or the last of its wait.
        one_cycle_back = self.width == 2 if latency == 1 else Const(0)

        def returned(at):
            return Mux(at.wait == 0, one_cycle_back, at.wait == 1)

        def is_last(at, bits):
            """The state ``at`` (its LUT pass ``bits``) is an instruction's last cycle: the
            last pass's write at the top domain of a one-domain add, or the step back's
            last cycle."""
            final_write = at.pass_[0] & bits.last_pass
            return Mux(at.stage == Stage.PASS, final_write & at.top & (self.width == 1),
                       (at.stage == Stage.RETURN) & returned(at))

        # Decided a cycle ahead (see above): ``last`` (it holds or moves the controller's
        # whole fetch pipeline), and which of the carry's, destination's and source's
        # columns the key and mask set. The key and mask are those bits spread over the
        # columns, decoded into registers too (the fields hold through the instruction, and
        # no pass reads them before its third cycle), so the controller's issue registers
        # take them through a LUT or two. (With the add's pass decoded into the key and mask
        # in the same cycle, that was the slowest path of a 256-row build, 9.97 ns; with the
        # key and mask registers decided ahead from the pass, 11.2 ns into them.) Not reset:
        # they settle in the cycle after a reset, and no ARITH issues before the fetch fills.
        columns = {name: Signal(p.columns, name=f"{name}_column", reset_less=True)
                   for name in ("dest", "src")}
        m.d.sync += [columns[name].eq(Const(1, p.columns) << getattr(self, name))
                     for name in columns]
        following_pass = self._lut_pass(m, following.pass_, following.full, "next")
        ahead = self._operation(m, following, following_pass)
        sets = SimpleNamespace(**{name: Signal(name=f"sets_{name}", reset_less=True)
                                  for name in vars(ahead)})
        m.d.sync += [getattr(sets, name).eq(value) for name, value in vars(ahead).items()]
        m.d.sync += self.last.eq(is_last(following, following_pass))
        carry = Const(1, p.columns) << p.tracks  # flag f0

        def spread(bit):
            return bit.replicate(p.columns)

        m.d.comb += [
            self.key.eq(carry & spread(sets.key_carry) | columns["dest"] & spread(sets.key_dest)
                        | columns["src"] & spread(sets.key_src)),
            # (the carry's clearing write decided ahead of an idle first cycle: see above)
            self.mask.eq(carry & spread(sets.mask_carry & ~first)
                         | columns["dest"] & spread(sets.mask_dest)
                         | columns["src"] & spread(sets.mask_src)),
        ]

        # What this cycle issues, from the state alone. None of it waits on the controller's
        # range check, which only gates the enables it issues.
        is_write = pass_[0]
        last_pass = self._lut_pass(m, pass_, full, "now").last_pass
        with steps.Switch(stage):
            with steps.Case(Stage.CLEAR_TAGS):
                steps.d.comb += [self.search.eq(1),  # no mask: every row matches
                                 following.stage.eq(Stage.CLEAR_CARRY)]
            with steps.Case(Stage.CLEAR_CARRY):
                steps.d.comb += [self.write.eq(1), following.stage.eq(Stage.PASS),
                                 following.domain.eq(0), following.pass_.eq(0),
                                 following.full.eq(bottom.full),
                                 following.top.eq(bottom.top)]
            with steps.Case(Stage.PASS):
                steps.d.comb += [self.write.eq(is_write), self.search.eq(~is_write),
                                 following.pass_.eq(pass_ + 1)]
                with steps.If(last_pass):
                    with steps.If(~top):
                        steps.d.comb += following.stage.eq(Stage.STEP)
                    with steps.Elif(self.width == 1):
                        steps.d.comb += following.stage.eq(Stage.CLEAR_TAGS)
                    with steps.Else():
                        steps.d.comb += following.stage.eq(Stage.RETURN)
            with steps.Case(Stage.STEP):
                advance = Signal()
                with steps.If(wait == 0):  # the shift's first cycle
                    steps.d.comb += self.step_up.eq(1)
                    if latency == 1:
                        steps.d.comb += advance.eq(1)
                    else:
                        steps.d.comb += following.wait.eq(latency - 1)
                with steps.Else():
                    steps.d.comb += [following.wait.eq(wait - 1), advance.eq(wait == 1)]
                with steps.If(advance):
                    steps.d.comb += [following.stage.eq(Stage.PASS), following.pass_.eq(0),
                                     following.domain.eq(domain + 1),
                                     following.full.eq(above.full),
                                     following.top.eq(above.top)]
            with steps.Case(Stage.RETURN):
                with steps.If(wait == 0):
                    steps.d.comb += self.step_back.eq(1)
                    with steps.If(~returned(state)):
                        steps.d.comb += following.wait.eq((self.width - 1) * latency - 1)
                with steps.Else():
                    steps.d.comb += following.wait.eq(wait - 1)
                with steps.If(returned(state)):
                    steps.d.comb += following.stage.eq(Stage.CLEAR_TAGS)
        m.submodules.steps = EnableInserter({"sync": self.run})(steps)
        return m

    def _lut_pass(self, m, pass_, full, name: str) -> SimpleNamespace:
        """The LUT pass at (mode, full, pass): its key bits (C, B, A), its written bits
        (C, B), and whether ``pass_`` is the write of the domain's last pass."""
        bits = SimpleNamespace(**{field: Signal(name=f"{field}_{name}") for field in (
            "key_c", "key_b", "key_a", "value_c", "value_b", "last_pass")})
        with m.Switch(Cat(pass_, full, self.mode)):
            for mode, tables in ARITH_PASSES.items():
                for is_full, table in ((0, tables[1]), (1, tables[0])):
                    for step in range(2 * len(table)):
                        key, value = table[step // 2]
                        with m.Case(step | is_full << 3 | mode.value << 4):
                            m.d.comb += [bits.key_c.eq(key[0]), bits.key_b.eq(key[1]),
                                         bits.value_c.eq(value[0]), bits.value_b.eq(value[1]),
                                         bits.last_pass.eq(step == 2 * len(table) - 1)]
                            if is_full:
                                m.d.comb += bits.key_a.eq(key[2])
        return bits

    def _operation(self, m, at, bits) -> SimpleNamespace:
        """Which columns the search or write in state ``at`` (its LUT pass ``bits``) sets in
        the key and mask: a LUT pass's (carry, destination, and for a search the source
        while it has bits), the carry's clearing write's, or none (the first cycle's search
        of every row, a shift)."""
        sets = SimpleNamespace(**{name: Signal(name=f"next_sets_{name}") for name in (
            "key_carry", "key_dest", "key_src", "mask_carry", "mask_dest", "mask_src")})
        with m.Switch(at.stage):
            with m.Case(Stage.CLEAR_CARRY):
                m.d.comb += sets.mask_carry.eq(1)
            with m.Case(Stage.PASS):
                m.d.comb += [sets.mask_carry.eq(1), sets.mask_dest.eq(1)]
                with m.If(at.pass_[0]):  # a pass's write
                    m.d.comb += [sets.key_carry.eq(bits.value_c),
                                 sets.key_dest.eq(bits.value_b)]
                with m.Else():
                    m.d.comb += [sets.key_carry.eq(bits.key_c), sets.key_dest.eq(bits.key_b),
                                 sets.key_src.eq(bits.key_a & at.full),
                                 sets.mask_src.eq(at.full)]
        return sets
