"""The rtmap command: each subcommand's files and output, and one-line errors with status 2."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rtmap.cli import main
from rtmap.sim.golden import run_layer as golden
from rtmap.sim.layer import save_layer
from rtmap.sim.random_layer import random_input, random_layer

SMALL = ["--rows", "8", "--tracks", "16", "--domains", "12"]


@pytest.fixture
def layer_files(tmp_path):
    rng = np.random.default_rng(42)
    layer = random_layer(rng, kind="linear", out_channels=6, in_channels=5, in_bits=4)
    x = random_input(rng, layer, batch=11)
    save_layer(layer, tmp_path / "layer.npz")
    np.save(tmp_path / "x.npy", x)
    return layer, x, tmp_path


def test_compile_writes_hex_and_json(layer_files, capsys):
    layer, _, tmp = layer_files
    assert main(["compile", str(tmp / "layer.npz"), "-o", str(tmp / "prog"), *SMALL]) == 0
    meta = json.loads((tmp / "prog" / "program.json").read_text())
    hex_lines = (tmp / "prog" / "program.hex").read_text().split()
    assert meta["params"]["rows"] == 8 and meta["params"]["tracks"] == 16
    assert meta["length"] == len(hex_lines)
    assert set(meta["stats"]) >= {"cycles", "searches", "writes", "shifts", "io_words"}
    nonzero = np.count_nonzero(layer.weights, axis=1)
    assert meta["ops"]["add_naive"] == int(np.maximum(nonzero - 1, 0).sum())
    assert "wrote" in capsys.readouterr().out


def test_disasm_prints_the_program(layer_files, capsys):
    _, _, tmp = layer_files
    main(["compile", str(tmp / "layer.npz"), "-o", str(tmp / "prog"), *SMALL])
    capsys.readouterr()
    assert main(["disasm", str(tmp / "prog" / "program.hex")]) == 0
    text = capsys.readouterr().out
    for mnemonic in ("load+", "search", "write", "shift up 1", "read+", "halt"):
        assert mnemonic in text


@pytest.mark.parametrize("backend", ["golden", "sim"])
def test_run_writes_golden_output_and_stats(layer_files, backend):
    layer, x, tmp = layer_files
    args = ["run", str(tmp / "layer.npz"), "--input", str(tmp / "x.npy"), "-o",
            str(tmp / "y.npy"), "--backend", backend, "--stats", str(tmp / "s.json"), *SMALL]
    assert main(args) == 0
    y = np.load(tmp / "y.npy")
    expected = golden(layer, x)
    assert y.dtype == expected.dtype
    np.testing.assert_array_equal(y, expected)
    stats = json.loads((tmp / "s.json").read_text())
    assert stats["backend"] == backend
    if backend == "sim":
        assert stats["runs"] == 2  # 11 samples on 8 rows
        assert stats["cycles"] > 0 and stats["io_words"] > 0


@pytest.mark.parametrize("make_args,message", [
    (lambda t: ["run", str(t / "missing.npz"), "--input", str(t / "x.npy"), "-o", str(t / "y")],
     "missing.npz"),
    (lambda t: ["run", str(t / "layer.npz"), "--input", str(t / "bad.npy"), "-o", str(t / "y")],
     "out of range"),
    (lambda t: ["compile", str(t / "layer.npz"), "-o", str(t / "p"), "--rows", "0"],
     "parameter rows=0 is out of range"),
    (lambda t: ["compile", str(t / "layer.npz"), "-o", str(t / "p"), "--tracks", "1"],
     "layer needs at least 2 tracks per row (an input and an accumulator) but the machine has "
     "tracks=1"),
    (lambda t: ["run", str(t / "layer.npz"), "--input", str(t / "x.npy"), "-o", str(t / "y"),
                "--backend", "fpga"], "invalid choice: 'fpga'"),
    (lambda t: ["frobnicate"], "invalid choice"),
    (lambda t: ["disasm", str(t / "nothing.hex")], "nothing"),
])
def test_user_errors_are_one_line_with_status_2(layer_files, capsys, make_args, message):
    _, x, tmp = layer_files
    bad = x.copy()
    bad[0, 0] = 99
    np.save(tmp / "bad.npy", bad)
    capsys.readouterr()
    assert main(make_args(tmp)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_installed_command_exits_2_without_traceback(tmp_path):
    rtmap = [sys.executable, "-m", "rtmap.cli"]
    done = subprocess.run([*rtmap, "run", str(tmp_path / "none.npz"), "--input", "x.npy",
                           "-o", "y.npy"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_random_writes_a_layer_and_an_input_that_run(tmp_path, capsys):
    layer_path, x_path = tmp_path / "l.npz", tmp_path / "x.npy"
    assert main(["random", str(layer_path), "--kind", "conv2d", "--out-channels", "3",
                 "--in-channels", "2", "--kernel", "3", "1", "--stride", "2", "--padding", "1",
                 "--levels", "5", "--seed", "4", "--input", str(x_path), "--batch", "2",
                 "--height", "6", "--width", "5"]) == 0
    out = capsys.readouterr().out
    assert "conv2d weights (3, 2, 3, 1)" in out and "uint8 (2, 2, 6, 5)" in out
    from rtmap.sim.layer import load_layer
    layer = load_layer(layer_path)
    assert (layer.stride, layer.padding, layer.thresholds.shape) == (2, 1, (3, 5))
    y_path = tmp_path / "y.npy"
    assert main(["run", str(layer_path), "--input", str(x_path), "-o", str(y_path)]) == 0
    assert np.load(y_path).shape == (2, 3, 3, 4)  # (6+2-3)//2+1 by (5+2-1)//2+1


@pytest.mark.parametrize("kind,options,said,out_shape", [
    ("maxpool", ["--in-channels", "3", "--kernel", "3", "3", "--stride", "2", "--padding", "1"],
     "maxpool 3x3 window over 3 channels", (3, 3, 3)),
    ("add", ["--out-channels", "2", "--levels", "3"], "add 2 + 2 channels", (2, 5, 5)),
])
def test_random_maxpool_and_add_compile_and_run_on_the_simulator(tmp_path, capsys, kind,
                                                                  options, said, out_shape):
    layer_path, x_path = tmp_path / "l.npz", tmp_path / "x.npy"
    assert main(["random", str(layer_path), "--kind", kind, *options, "--input", str(x_path),
                 "--height", "5", "--width", "5"]) == 0
    assert said in capsys.readouterr().out
    outputs = {}
    for backend in ("golden", "sim"):
        y_path = tmp_path / f"y_{backend}.npy"
        assert main(["run", str(layer_path), "--input", str(x_path), "-o", str(y_path),
                     "--backend", backend, "--rows", "8", "--tracks", "12",
                     "--domains", "8"]) == 0
        outputs[backend] = np.load(y_path)
    assert outputs["sim"].shape == out_shape and outputs["sim"].dtype == np.uint8
    np.testing.assert_array_equal(outputs["sim"], outputs["golden"])
    assert main(["compile", str(layer_path), "-o", str(tmp_path / "p"), "--rows", "8",
                 "--tracks", "12", "--domains", "8", "--report"]) == 0
    printed = capsys.readouterr().out
    assert ("maxima=" in printed) == (kind == "maxpool")


@pytest.mark.parametrize("args,message", [
    (["--stride", "2"], "--stride and --padding apply to --kind conv2d and maxpool only"),
    (["--kind", "add", "--padding", "1"], "--stride and --padding apply to --kind conv2d"),
    (["--kind", "maxpool", "--levels", "3"], "--levels does not apply to --kind maxpool"),
    (["--in-bits", "9"], "in_bits=9 is out of range 1..8"),
    (["--out-channels", "0"], "argument --out-channels: '0' is not a positive integer"),
    (["--zero-fraction", "1.5"], "--zero-fraction 1.5 is outside 0..1"),
])
def test_random_rejects_bad_options(tmp_path, capsys, args, message):
    assert main(["random", str(tmp_path / "l.npz"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_output_cut_short_by_a_pipe_is_not_an_error(layer_files):
    """`rtmap disasm p.hex | head`: no traceback when the reader has gone (here the pipe's
    read end is closed before rtmap writes, so every write fails with EPIPE)."""
    _, _, tmp = layer_files
    main(["compile", str(tmp / "layer.npz"), "-o", str(tmp / "prog"), *SMALL])
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "rtmap.cli", "disasm",
                               str(tmp / "prog" / "program.hex")], stdout=write_end,
                              stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_compile_report_prints_the_layer_costs(layer_files, capsys):
    _, _, tmp = layer_files
    assert main(["compile", str(tmp / "layer.npz"), "-o", str(tmp / "p"), "--rows", "8",
                 "--tracks", "4", "--domains", "12", "--report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, row = lines[-2].split(), lines[-1].split()
    values = dict(zip(header, row[:1] + row[-len(header) + 1:], strict=True))
    assert "tiles x" in lines[-1]  # 5 inputs on 4 tracks: tiled
    meta = json.loads((tmp / "p" / "program.json").read_text())
    assert int(values["words_in"]) + int(values["words_out"]) == meta["stats"]["io_words"]
    assert int(values["cycles"]) == meta["stats"]["cycles"]
    assert int(values["adds"]) == meta["ops"]["add"] <= int(values["adds_naive"])
    assert int(values["temporaries"]) == meta["ops"]["temporaries"]


def test_verilog_writes_the_top_and_checks_a_program_against_its_machine(layer_files, capsys):
    _, _, tmp = layer_files
    assert main(["verilog", "-o", str(tmp / "v"), *SMALL]) == 0
    text = (tmp / "v" / "rtmap_top.v").read_text()
    assert "module rtmap_top(" in text and "input [15:0] data_in__payload;" in text
    assert "rows=8 tracks=16 domains=12" in capsys.readouterr().out
    main(["compile", str(tmp / "layer.npz"), "-o", str(tmp / "p"), *SMALL])
    program = str(tmp / "p" / "program.hex")
    assert main(["verilog", "-o", str(tmp / "w"), "--program", program, *SMALL]) == 0
    capsys.readouterr()
    assert main(["verilog", "-o", str(tmp / "w"), "--program", program, "--rows", "9",
                 "--tracks", "16", "--domains", "12"]) == 2
    assert "program was compiled for rows=8 but the machine has rows=9" in \
        capsys.readouterr().err


def tiny_network():
    from rtmap.compiler.networks import LayerShape

    return [LayerShape("conv", "conv2d", 4, 3, 3, 1, 1, 4, 4, repeat=2),
            LayerShape("pool", "maxpool", 4, 4, 2, 2, 0, 4, 4),
            LayerShape("fc", "linear", 5, 16)]


def test_energy_prints_the_table_and_writes_json(tmp_path, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    out = tmp_path / "e" / "energy.json"
    assert main(["energy", "tiny", "--rows", "8", "--tracks", "40", "--domains", "16",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "energy per inference:" in printed and "crossbar:" in printed
    assert [line.split()[0] for line in printed.splitlines()[2:5]] == ["conv", "pool", "fc"]
    report = json.loads(out.read_text())
    for key in ("energy_per_inference_j", "latency_s", "ratio_vs_crossbar", "ratio_vs_sram_ap",
                "activation_movement_share", "layers"):
        assert key in report, key
    assert report["network"] == "tiny" and len(report["layers"]) == 3
    assert report["params"]["rows"] == 8


def test_energy_rejects_a_bad_cost_file(tmp_path, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    bad = tmp_path / "costs.toml"
    bad.write_text("[rtm_ap]\n")
    assert main(["energy", "tiny", "--params", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: costs.toml: ") and err.count("\n") == 1, err


def test_energy_draws_the_plot(tmp_path, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    plot = tmp_path / "p" / "energy.png"
    assert main(["energy", "tiny", "--rows", "8", "--tracks", "40", "--domains", "16",
                 "--zero-fraction", "0.6", "--arrays", "1", "--plot", str(plot)]) == 0
    printed = capsys.readouterr().out
    assert "on 1 arrays of 8 x 40 x 16" in printed and "ternary weights 60% zero" in printed
    assert f"wrote {plot}" in printed
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv,message", [
    (["--plot", "energy.pdf"], "energy.pdf: a plot is written as PNG"),
    (["--zero-fraction", "1"], "--zero-fraction 1.0 is not in [0, 1)"),
    (["--arrays", "0"], "argument --arrays: '0' is not a positive integer"),
])
def test_energy_rejects_bad_options_before_any_work(argv, message, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    assert main(["energy", "tiny", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_sweep_writes_the_csv_and_the_pareto_plot(tmp_path, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    out, plot = tmp_path / "s" / "sweep.csv", tmp_path / "s" / "pareto.png"
    assert main(["sweep", "tiny", "--rows", "8,4,8", "--tracks", "40", "--domains", "8,16",
                 "-o", str(out), "--plot", str(plot), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in printed[1:5]] == [
        ["4", "40", "8"], ["4", "40", "16"], ["8", "40", "8"], ["8", "40", "16"]]
    assert "infeasible: conv: output channel" in printed[1]
    assert printed[-2:] == [f"wrote {out}", f"wrote {plot}"]
    assert out.read_text().count("\n") == 5 and plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("argv,message", [
    (["--rows", "4,x"], "argument --rows: '4,x' is not a comma-separated list"),
    (["--domains", "8", "--plot", "p.png"], "no design point of the sweep can run the network"),
])
def test_sweep_rejects_bad_lists_and_empty_plots(argv, message, tmp_path, capsys, monkeypatch):
    from rtmap.compiler import networks

    monkeypatch.setitem(networks.NETWORKS, "tiny", tiny_network)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "tiny", "--tracks", "40", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
