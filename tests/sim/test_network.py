"""The network format: a chain of layers, validated, run on every backend against an
independent NumPy model of the whole chain."""

import json

import numpy as np
import pytest
from network_models import random_network, reference

from rtmap.errors import RtmapError
from rtmap.params import MachineParams
from rtmap.run import run_network
from rtmap.sim.network import build_network, check_network_input, load_network, save_network

PARAMS = MachineParams(rows=8, tracks=24, domains=12, program_depth=1 << 14)


@pytest.mark.parametrize("seed", range(4))
def test_golden_chain_matches_an_independent_model_and_survives_a_file(seed, tmp_path):
    rng = np.random.default_rng(seed)
    description, arrays = random_network(rng, residual=seed % 2 == 0)
    network = build_network(description, arrays)
    x = rng.integers(0, 8, (3, 2, 6, 6))
    expected = reference(description, arrays, x)
    result = run_network(network, x)
    assert result.output.dtype == np.int32 and result.output.shape == (3, 4)
    np.testing.assert_array_equal(result.output, expected)
    loaded = load_network(save_network(network, tmp_path / "net.npz"))
    assert loaded.describe() == network.describe()
    np.testing.assert_array_equal(run_network(loaded, x[0]).output, expected[0])


def test_simulator_runs_the_chain_bit_exact_and_counts_every_layer():
    rng = np.random.default_rng(7)
    description, arrays = random_network(rng)
    network = build_network(description, arrays)
    x = rng.integers(0, 8, (2, 2, 6, 6))
    on_sim = run_network(network, x, "sim", PARAMS)
    np.testing.assert_array_equal(on_sim.output, reference(description, arrays, x))
    layers = on_sim.stats["layers"]
    assert [layer["name"] for layer in layers] == [e["name"] for e in description["layers"]]
    ran = [layer for layer in layers if layer["kind"] != "flatten"]
    for key in ("cycles", "searches", "writes", "shifts", "io_words", "words_in", "words_out"):
        assert on_sim.stats[key] == sum(layer[key] for layer in ran), key
    # Every word the programs move is an activation word: LOAD in, READ out.
    assert on_sim.stats["io_words"] == on_sim.stats["words_in"] + on_sim.stats["words_out"]
    assert {layer["name"]: layer["runs"] for layer in ran}["c1"] == 9  # 72 positions / 8 rows


def _bad(description, arrays, change):
    description = json.loads(json.dumps(description))
    arrays = dict(arrays)
    change(description, arrays)
    return description, arrays


BAD = {
    "unknown kind": (lambda d, a: d["layers"][1].update(kind="avgpool"),
                     r"^net: layer 'p1': kind 'avgpool' is not one of conv2d, linear, maxpool, "
                     r"add, flatten$"),
    "missing weights": (lambda d, a: a.pop("c2.weights"),
                        r"^net: layer 'c2': missing array 'c2.weights'$"),
    "channel mismatch": (lambda d, a: a.update({"c2.weights": np.ones((3, 4, 3, 3))}),
                         r"^net: layer 'c2': expects 4 input channels but its input \(3, 3, 3\) "
                         r"has 3$"),
    "linear without flatten": (lambda d, a: d["layers"].pop(4),
                               r"^net: layer 'fc1': a linear layer needs a flat input, got "
                               r"\(3, 3, 3\); put a flatten before it$"),
    "raw sums in the middle": (lambda d, a: a.pop("fc1.thresholds"),
                               r"^net: layer 'fc2' takes the raw sums of 'fc1', which has no "
                               r"thresholds; only the last layer may return raw sums$"),
    "add from nowhere": (lambda d, a: d["layers"][3].update({"from": "c9"}),
                         r"^net: layer 'res': 'from' must name an earlier layer or 'input', got "
                         r"'c9'$"),
    "add of another shape": (lambda d, a: d["layers"][3].update({"from": "c1"}),
                             r"^net: layer 'res': adds \(3, 3, 3\) to 'c1'.s \(3, 6, 6\); the "
                             r"shapes must be equal$"),
    "duplicate name": (lambda d, a: d["layers"][2].update(name="c1"),
                       r"^net: layer 2 reuses the name 'c1'$"),
    "stray array": (lambda d, a: a.update({"fc9.weights": np.ones((1, 1))}),
                    r"^net: arrays 'fc9.weights' belong to no layer$"),
    "pool weights": (lambda d, a: a.update({"p1.weights": np.ones((1, 1))}),
                     r"^net: layer 'p1': a maxpool layer has no 'weights' array$"),
    "non-ternary": (lambda d, a: a["c1.weights"].__setitem__((0, 0, 0, 0), 2),
                    r"^net: layer 'c1': weights\[0, 0, 0, 0\] = 2 is not ternary"),
    "version": (lambda d, a: d.update(version=9),
                r"^net: network format version 9 is not supported \(this rtmap reads version "
                r"1\)$"),
    "input shape": (lambda d, a: d["input"].update(shape=[2, 6]),
                    r"^net: input shape must be \[C, H, W\] or \[C\] of positive integers"),
    "option of another kind": (lambda d, a: d["layers"][4].update(stride=2),
                               r"^net: layer 'flat': flatten takes no 'stride'$"),
    "kernel larger than input": (lambda d, a: d["input"].update(shape=[2, 1, 1]),
                                 r"^net: layer 'c1': its 1x1 input with padding 1 is smaller "
                                 r"than the 3x3 kernel$|^net: layer 'p1'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_network_is_one_line_naming_the_layer(case):
    change, message = BAD[case]
    description, arrays = _bad(*random_network(np.random.default_rng(0)), change)
    with pytest.raises(RtmapError, match=message) as error:
        build_network(description, arrays, "net")
    assert "\n" not in str(error.value)


def test_bad_files_and_inputs(tmp_path):
    network = build_network(*random_network(np.random.default_rng(1)))
    path = save_network(network, tmp_path / "net.npz")
    with pytest.raises(RtmapError, match=r"^missing.npz: no such file$"):
        load_network(tmp_path / "missing.npz")
    np.savez(tmp_path / "layer.npz", kind=np.array("linear"), weights=np.ones((2, 2)))
    with pytest.raises(RtmapError, match=r"^layer.npz: missing the 'network' description \(this "
                       r"looks like a single layer: use rtmap run\)$"):
        load_network(tmp_path / "layer.npz")
    np.savez(tmp_path / "text.npz", network=np.array("{not json"))
    with pytest.raises(RtmapError, match=r"^text.npz: the 'network' description is not valid "
                       r"JSON"):
        load_network(tmp_path / "text.npz")
    loaded = load_network(path)
    with pytest.raises(RtmapError, match=r"^x: input shape \(2, 5, 6\) is neither \(2, 6, 6\) "
                       r"nor \(N, 2, 6, 6\) with N >= 1$"):
        check_network_input(loaded, np.zeros((2, 5, 6), np.uint8), "x")
    with pytest.raises(RtmapError, match=r"^x: input value 8 at \[0, 1, 2, 3\] is out of range "
                       r"0..7 for in_bits=3$"):
        bad = np.zeros((1, 2, 6, 6), np.uint8)
        bad[0, 1, 2, 3] = 8
        check_network_input(loaded, bad, "x")


def chain_network(rng):
    """conv 3x3 -> conv 1x1 -> maxpool -> conv 1x1 -> flatten -> linear -> linear -> linear:
    three pairs whose second layer can take the first one's outputs in the array."""
    def thresholds(k, fan_in, levels=7):
        return np.sort(rng.integers(-fan_in, fan_in + 1, (k, levels)), axis=1)

    layers = [{"name": "a", "kind": "conv2d", "padding": 1}, {"name": "b", "kind": "conv2d"},
              {"name": "p", "kind": "maxpool", "pool": [2, 2], "stride": 2},
              {"name": "c", "kind": "conv2d"}, {"name": "flat", "kind": "flatten"},
              {"name": "f1", "kind": "linear"}, {"name": "f2", "kind": "linear"},
              {"name": "f3", "kind": "linear"}]
    arrays = {"a.weights": rng.integers(-1, 2, (3, 2, 3, 3)), "a.thresholds": thresholds(3, 9),
              "b.weights": rng.integers(-1, 2, (3, 3, 1, 1)), "b.thresholds": thresholds(3, 3),
              "c.weights": rng.integers(-1, 2, (2, 3, 1, 1)), "c.thresholds": thresholds(2, 3),
              "f1.weights": rng.integers(-1, 2, (5, 8)), "f1.thresholds": thresholds(5, 8),
              "f2.weights": rng.integers(-1, 2, (4, 5)), "f2.thresholds": thresholds(4, 5),
              "f3.weights": rng.integers(-1, 2, (3, 4))}
    description = {"format": "rtmap-network", "version": 1,
                   "input": {"shape": [2, 4, 4], "in_bits": 3}, "layers": layers}
    return description, arrays


@pytest.mark.parametrize("seed", range(3))
def test_chained_layers_keep_their_activations_in_the_array(seed):
    rng = np.random.default_rng(seed)
    description, arrays = chain_network(rng)
    network = build_network(description, arrays)
    x = rng.integers(0, 8, (3, 2, 4, 4))
    expected = reference(description, arrays, x)
    chained = run_network(network, x, "sim", PARAMS)
    apart = run_network(network, x, "sim", PARAMS, chain=False)
    np.testing.assert_array_equal(chained.output, expected)
    np.testing.assert_array_equal(apart.output, expected)
    assert [layer["name"] for layer in chained.stats["layers"]] == ["a+b", "p+c", "flat",
                                                                    "f1+f2", "f3"]
    # What a chain does not move: the first layer's outputs and the second one's inputs.
    by_name = {layer["name"]: layer for layer in apart.stats["layers"]}
    saved = sum(by_name[first]["words_out"] + by_name[second]["words_in"]
                for first, second in (("a", "b"), ("p", "c"), ("f1", "f2")))
    moved = {key: chained.stats[key] - apart.stats[key] for key in ("words_in", "words_out")}
    assert saved > 0 and sum(moved.values()) == -saved
    for name in ("a+b", "p+c", "f1+f2"):
        first, second = name.split("+")
        layer = {entry["name"]: entry for entry in chained.stats["layers"]}[name]
        assert layer["words_in"] == by_name[first]["words_in"]
        assert layer["words_out"] == by_name[second]["words_out"]


def test_a_layer_whose_outputs_cannot_stay_says_why():
    rng = np.random.default_rng(4)
    description, arrays = chain_network(rng)
    network = build_network(description, arrays)
    x = rng.integers(0, 8, (2, 2, 4, 4))
    # 8 tracks: conv a's 18 inputs come in tiles, so its outputs are read out.
    narrow = MachineParams(rows=8, tracks=8, domains=12, program_depth=1 << 14)
    result = run_network(network, x, "sim", narrow)
    np.testing.assert_array_equal(result.output, reference(description, arrays, x))
    first = result.stats["layers"][0]
    assert first["name"] == "a" and first["not_chained"] == "the conv2d's inputs are tiled"
    # An output a later residual add needs stays on the host.
    description, arrays = random_network(rng)
    description["layers"][2] = {"name": "c2", "kind": "conv2d"}
    arrays["c2.weights"] = rng.integers(-1, 2, (3, 3, 1, 1))
    description["layers"][3]["from"] = "p1"
    network = build_network(description, arrays)
    x = rng.integers(0, 8, (1, 2, 6, 6))
    result = run_network(network, x, "sim", PARAMS)
    np.testing.assert_array_equal(result.output, reference(description, arrays, x))
    assert [layer["name"] for layer in result.stats["layers"]][:3] == ["c1", "p1", "c2"]
    assert result.stats["layers"][1]["not_chained"] == "a residual add takes them later"


def test_a_layer_too_big_for_the_machine_is_named():
    network = build_network(*random_network(np.random.default_rng(2)), "net.npz")
    tiny = MachineParams(rows=8, tracks=24, domains=12, program_depth=64)
    with pytest.raises(RtmapError, match=r"^net.npz: layer 'c1': program needs \d+ words but "
                       r"program_depth=64$"):
        run_network(network, np.zeros((2, 6, 6), np.uint8), "sim", tiny)
