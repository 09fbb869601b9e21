"""Property tests: for any layer shape and any machine that can hold it, the compiled program
on the instruction simulator equals the golden model bit for bit, and the simulator's
counters equal the compiler's static counts."""

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rtmap.compiler.analysis import program_counts
from rtmap.compiler.pipeline import compile_layer
from rtmap.errors import RtmapError
from rtmap.params import MachineParams
from rtmap.run import run_layer
from rtmap.sim.golden import run_layer as golden
from rtmap.sim.random_layer import random_input, random_layer


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(["linear", "conv2d", "maxpool", "add"]))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    spec = dict(kind=kind, out_channels=draw(st.integers(1, 6)),
                in_channels=draw(st.integers(1, 5)), kernel=kernel,
                stride=draw(st.integers(1, 3)), padding=draw(st.integers(0, 2)),
                in_bits=draw(st.integers(1, 6)), zero_fraction=draw(st.floats(0.0, 0.9)),
                thresholds_levels=None if kind == "maxpool" else
                draw(st.sampled_from([None, 1, 3, 7])))
    if kind == "add":  # a residual add has neither a kernel nor a stride
        spec.update(kernel=(1, 1), stride=1, padding=0)
        kernel = (1, 1)
    machine = MachineParams(rows=draw(st.integers(1, 9)), tracks=draw(st.integers(2, 24)),
                            domains=draw(st.integers(4, 16)),
                            shift_latency=draw(st.integers(1, 3)), program_depth=1 << 16)
    size = (draw(st.integers(kernel[0], 7)), draw(st.integers(kernel[1], 7)))
    batch = draw(st.sampled_from([None, 1, 3]))
    return spec, machine, size, batch, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=200, deadline=None, derandomize=True,  # the same cases on every run
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_any_layer_on_any_machine_equals_golden(case):
    spec, machine, (height, width), batch, seed = case
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, **spec)
    x = random_input(rng, layer, batch=batch, height=height, width=width)
    try:
        result = run_layer(layer, x, "sim", machine)
    except RtmapError as exc:  # only for a limit the machine really has
        assert any(limit in str(exc) for limit in ("domains=", "tracks per row")), str(exc)
        event("rejected: " + str(exc).split(" but ")[-1].split("=")[0])
        return
    expected = golden(layer, x)
    assert result.output.dtype == expected.dtype and result.output.shape == expected.shape
    np.testing.assert_array_equal(result.output, expected)
    compiled = compile_layer(layer, machine, active_rows=result.stats["active_rows"])
    event("compared, " + ("tiled" if compiled.plan.reloads else "resident inputs"))
    ops = compiled.program.meta["ops"]
    event("with CSE temporaries" if ops["temporaries"] else "without temporaries")
    assert ops["add"] <= ops["add_naive"]
    if layer.kind == "maxpool":
        assert ops["max"] >= layer.out_channels * (layer.kernel[0] * layer.kernel[1] - 1)
    static = program_counts(compiled.code, machine)
    assert {k: result.stats[k] for k in static} == {k: v * result.stats["runs"]
                                                    for k, v in static.items()}
