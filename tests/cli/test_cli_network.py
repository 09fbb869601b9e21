"""`rtmap run-network` and `rtmap energy` on a network file."""

import json

import numpy as np
import pytest
from network_models import random_network, reference

from rtmap.cli import main
from rtmap.compiler.networks import network_file_shapes
from rtmap.params import MachineParams
from rtmap.sim.energy import load_costs, network_energy
from rtmap.sim.network import build_network, save_network

SMALL = ["--rows", "8", "--tracks", "24", "--domains", "12", "--program-depth", "16384"]


@pytest.fixture
def network_files(tmp_path):
    rng = np.random.default_rng(5)
    description, arrays = random_network(rng)
    path = save_network(build_network(description, arrays), tmp_path / "net.npz")
    x = rng.integers(0, 8, (2, 2, 6, 6)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    return path, reference(description, arrays, x), tmp_path


@pytest.mark.parametrize("backend", ["golden", "sim"])
def test_run_network_writes_the_output_and_the_stats(network_files, backend, capsys):
    path, expected, tmp = network_files
    out, stats = tmp / "out" / "y.npy", tmp / "s" / "stats.json"
    assert main(["run-network", str(path), "--input", str(tmp / "x.npy"), "-o", str(out),
                 "--backend", backend, "--stats", str(stats), *SMALL]) == 0
    np.testing.assert_array_equal(np.load(out), expected)
    printed = capsys.readouterr().out
    assert printed.startswith(f"wrote {out}: int32 (2, 4) ({backend}, 2 images)")
    saved = json.loads(stats.read_text())
    assert saved["backend"] == backend and saved["images"] == 2
    assert [layer["name"] for layer in saved["layers"]] == ["c1", "p1", "c2", "res", "flat",
                                                             "fc1", "fc2"]
    if backend == "sim":
        total = printed.splitlines()[-1].split()
        assert total == ["total", str(saved["cycles"]), str(saved["words_in"]),
                         str(saved["words_out"])]
        assert saved["params"]["rows"] == 8


@pytest.mark.parametrize("make_args, message", [
    (lambda t, p: ["run-network", str(t / "nothing.npz"), "--input", str(t / "x.npy"), "-o",
                   str(t / "y.npy")], "nothing.npz: no such file"),
    (lambda t, p: ["run-network", str(p), "--input", str(t / "flat.npy"), "-o",
                   str(t / "y.npy")], "flat.npy: input shape (72,) is neither (2, 6, 6) nor"),
    (lambda t, p: ["energy", str(p), "--size", "4"], "--size applies to the built-in networks"),
    (lambda t, p: ["energy", "resnet19"], "unknown network 'resnet19': give one of resnet18, "
                                          "vgg16 or a network .npz file"),
])
def test_network_errors_are_one_line(network_files, capsys, make_args, message):
    path, _, tmp = network_files
    np.save(tmp / "flat.npy", np.zeros(72, np.uint8))
    assert main(make_args(tmp, path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_energy_counts_the_real_layers_of_a_network_file(network_files, capsys):
    path, _, tmp = network_files
    out = tmp / "energy.json"
    assert main(["energy", str(path), "--rows", "8", "--tracks", "40", "--domains", "16",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [layer["name"] for layer in report["layers"]] == ["c1", "p1", "c2", "res", "fc1",
                                                             "fc2"]
    from rtmap.sim.network import load_network

    network = load_network(path)
    shapes, layers = network_file_shapes(network)
    params = MachineParams(rows=8, tracks=40, domains=16, program_depth=1 << 24)
    direct = network_energy(shapes, params, load_costs(), layers=layers)
    assert report["energy_per_inference_j"] == pytest.approx(direct["energy_per_inference_j"])
    # The real weights' zeros, not a drawn fraction.
    weights = [layer.weights for layer in layers if layer.kind in ("conv2d", "linear")]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights)
    assert report["zero_fraction"] == pytest.approx(zeros)
    # conv c1 sees 6 x 6 positions of one image: its runs are those of 8 rows.
    assert report["layers"][0]["positions"] == 36 and report["layers"][0]["runs"] == 5
