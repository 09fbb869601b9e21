"""End to end on the generated Verilog: golden, simulator and RTL agree bit for bit, and the
simulator and RTL agree on every counter, cycle for cycle."""

import json

import numpy as np
import pytest

from rtmap.isa import COUNTERS
from rtmap.params import MachineParams
from rtmap.run import run_layer
from rtmap.sim.golden import run_layer as golden
from rtmap.sim.random_layer import random_input, random_layer
from rtmap.toolchain import icarus_available

pytestmark = [pytest.mark.rtl, pytest.mark.xdist_group("e2e_rtl")]

# One small machine for every case here, so Verilator builds it once.
PARAMS = MachineParams(rows=6, tracks=12, domains=10, shift_latency=2, program_depth=4096)

CASES = {
    "linear": dict(kind="linear", out_channels=7, in_channels=5, in_bits=4, batch=9),
    "linear_thresholds": dict(kind="linear", out_channels=3, in_channels=6, in_bits=3,
                              thresholds_levels=7, batch=4),
    "conv_padding_stride": dict(kind="conv2d", out_channels=2, in_channels=1, kernel=(3, 3),
                                stride=2, padding=1, in_bits=2, batch=None, hw=(5, 4)),
    # 18 inputs on 12 tracks: tiles through masked loads, channel groups reload the inputs.
    "conv_tiled_thresholds": dict(kind="conv2d", out_channels=4, in_channels=2, kernel=(3, 3),
                                  stride=1, padding=1, in_bits=3, thresholds_levels=2,
                                  batch=None, hw=(3, 3)),
    # 2 x 9 window inputs + outputs on 12 tracks: the running maxima stream through tiles.
    "maxpool_tiled": dict(kind="maxpool", in_channels=2, kernel=(3, 3), stride=2, padding=1,
                          in_bits=4, batch=2, hw=(5, 5)),
    "residual_add_thresholds": dict(kind="add", out_channels=3, in_bits=4,
                                    thresholds_levels=15, batch=None, hw=(3, 2)),
}


def check_layer(case, seed, build_dir, simulator="verilator"):
    spec = dict(CASES[case])
    batch, hw = spec.pop("batch"), spec.pop("hw", (None, None))
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, **spec)
    x = random_input(rng, layer, batch=batch, height=hw[0], width=hw[1])
    expected = golden(layer, x)
    on_sim = run_layer(layer, x, "sim", PARAMS)
    on_rtl = run_layer(layer, x, "rtl", PARAMS, build_dir=build_dir, simulator=simulator)
    for result in (on_sim, on_rtl):
        assert result.output.dtype == expected.dtype and result.output.shape == expected.shape
        np.testing.assert_array_equal(result.output, expected, err_msg=f"{case} seed {seed}")
    assert {k: on_rtl.stats[k] for k in COUNTERS} == {k: on_sim.stats[k] for k in COUNTERS}
    # The bench's own clock count, not only the design's counter, equals the simulator's.
    assert on_rtl.stats["clock_cycles"] == on_sim.stats["cycles"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_on_verilator(case, rtl_build_dir):
    check_layer(case, seed=sorted(CASES).index(case), build_dir=rtl_build_dir)


@pytest.mark.skipif(not icarus_available(), reason="Icarus Verilog not installed")
def test_layer_on_icarus(rtl_build_dir):
    check_layer("linear", seed=5, build_dir=rtl_build_dir, simulator="icarus")


def test_cli_run_on_three_backends_agrees(tmp_path, rtl_build_dir, capsys):
    """The acceptance path a newcomer types: rtmap random, then rtmap run on each backend."""
    from rtmap.cli import main

    machine = ["--rows", str(PARAMS.rows), "--tracks", str(PARAMS.tracks), "--domains",
               str(PARAMS.domains), "--shift-latency", str(PARAMS.shift_latency),
               "--program-depth", str(PARAMS.program_depth)]
    layer, x = tmp_path / "layer.npz", tmp_path / "x.npy"
    assert main(["random", str(layer), "--out-channels", "4", "--in-channels", "6", "--seed",
                 "3", "--input", str(x), "--batch", "8"]) == 0
    outputs, stats = {}, {}
    for backend in ("golden", "sim", "rtl"):
        y, s = tmp_path / f"{backend}.npy", tmp_path / f"{backend}.json"
        extra = ["--build-dir", str(rtl_build_dir)] if backend == "rtl" else []
        assert main(["run", str(layer), "--input", str(x), "-o", str(y), "--backend", backend,
                     "--stats", str(s), *machine, *extra]) == 0
        outputs[backend] = np.load(y)
        stats[backend] = json.loads(s.read_text())
    np.testing.assert_array_equal(outputs["sim"], outputs["golden"])
    np.testing.assert_array_equal(outputs["rtl"], outputs["golden"])
    assert outputs["rtl"].dtype == np.int32 and outputs["rtl"].shape == (8, 4)
    assert stats["rtl"]["runs"] == 2  # 8 vectors on 6 rows
    assert {k: stats["rtl"][k] for k in COUNTERS} == {k: stats["sim"][k] for k in COUNTERS}
    assert stats["rtl"]["clock_cycles"] == stats["sim"]["cycles"]


def test_a_chained_network_on_verilator(rtl_build_dir):
    """Layers that keep their activations in the array between them, run as one program:
    bit for bit and cycle for cycle the simulator's."""
    from rtmap.run import run_network
    from rtmap.sim.network import build_network

    rng = np.random.default_rng(11)
    arrays = {"a.weights": rng.integers(-1, 2, (4, 6)),
              "a.thresholds": np.sort(rng.integers(-6, 7, (4, 3)), axis=1),
              "b.weights": rng.integers(-1, 2, (3, 4)),
              "b.thresholds": np.sort(rng.integers(-4, 5, (3, 3)), axis=1),
              "c.weights": rng.integers(-1, 2, (2, 3))}
    network = build_network({"format": "rtmap-network", "version": 1,
                             "input": {"shape": [6], "in_bits": 4},
                             "layers": [{"name": name, "kind": "linear"} for name in "abc"]},
                            arrays)
    x = rng.integers(0, 16, (8, 6))
    expected = run_network(network, x).output
    on_sim = run_network(network, x, "sim", PARAMS)
    on_rtl = run_network(network, x, "rtl", PARAMS, build_dir=rtl_build_dir)
    assert [layer["name"] for layer in on_rtl.stats["layers"]] == ["a+b", "c"]
    np.testing.assert_array_equal(on_sim.output, expected)
    np.testing.assert_array_equal(on_rtl.output, expected)
    assert {k: on_rtl.stats[k] for k in COUNTERS} == {k: on_sim.stats[k] for k in COUNTERS}
    assert on_rtl.stats["clock_cycles"] == on_sim.stats["cycles"]
