"""Layer files and inputs: round trips, and a one-line message for each kind of bad input."""

import numpy as np
import pytest

from rtmap.errors import RtmapError
from rtmap.sim.layer import Layer, check_input, load_input, load_layer, save_layer
from rtmap.sim.random_layer import random_input, random_layer


def save_npz(path, **entries):
    with open(path, "wb") as f:
        np.savez(f, **entries)
    return path


def conv_entries(**changes):
    entries = dict(kind=np.array("conv2d"), weights=np.ones((2, 3, 3, 3), np.int8),
                   stride=np.array(1), padding=np.array(0), in_bits=np.array(4))
    entries.update(changes)
    return {k: v for k, v in entries.items() if v is not None}


def test_layer_files_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    for kind, levels in [("conv2d", 15), ("linear", None), ("linear", 3)]:
        layer = random_layer(rng, kind=kind, out_channels=5, in_channels=3, stride=2,
                             padding=1, in_bits=6, thresholds_levels=levels)
        loaded = load_layer(save_layer(layer, tmp_path / f"{kind}{levels}.npz"))
        assert (loaded.kind, loaded.stride, loaded.padding, loaded.in_bits) == \
            (layer.kind, layer.stride, layer.padding, layer.in_bits)
        np.testing.assert_array_equal(loaded.weights, layer.weights)
        assert loaded.weights.dtype == np.int8
        if levels is None:
            assert loaded.thresholds is None
        else:
            np.testing.assert_array_equal(loaded.thresholds, layer.thresholds)
            assert loaded.thresholds.dtype == np.int32


def test_maxpool_and_add_files_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    pool = random_layer(rng, kind="maxpool", in_channels=3, kernel=(3, 2), stride=2,
                        padding=1, in_bits=5)
    add = random_layer(rng, kind="add", out_channels=4, in_bits=3, thresholds_levels=7)
    loaded_pool = load_layer(save_layer(pool, tmp_path / "pool.npz"))
    assert (loaded_pool.kind, loaded_pool.pool, loaded_pool.channels, loaded_pool.stride,
            loaded_pool.padding, loaded_pool.in_bits) == ("maxpool", (3, 2), 3, 2, 1, 5)
    assert loaded_pool.weights is None and loaded_pool.kernel == (3, 2)
    loaded_add = load_layer(save_layer(add, tmp_path / "add.npz"))
    assert (loaded_add.channels, loaded_add.in_channels, loaded_add.out_channels) == (4, 8, 4)
    np.testing.assert_array_equal(loaded_add.thresholds, add.thresholds)
    np.testing.assert_array_equal(loaded_add.weights[:, :, 0, 0],
                                  np.hstack([np.eye(4), np.eye(4)]))


def test_optional_entries_take_their_defaults(tmp_path):
    path = save_npz(tmp_path / "l.npz", kind=np.array("conv2d"),
                    weights=np.zeros((1, 1, 1, 1), np.int8))
    layer = load_layer(path)
    assert (layer.stride, layer.padding, layer.in_bits, layer.thresholds) == (1, 0, 4, None)


WEIGHTS_BAD = np.ones((2, 3, 3, 3), np.int8)
WEIGHTS_BAD[1, 2, 0, 1] = 2


@pytest.mark.parametrize("entries,message", [
    (conv_entries(weights=WEIGHTS_BAD), r"l\.npz: weights\[1, 2, 0, 1\] = 2 is not ternary"),
    (conv_entries(weights=np.full((2, 3, 3, 3), 0.5)), r"weights\[0, 0, 0, 0\] = 0.5 is not an "
                                                        "integer"),
    (conv_entries(weights=np.ones((2, 3), np.int8)), r"conv2d weights must have shape "
                                                       r"\(K, C, KH, KW\), got shape \(2, 3\)"),
    (conv_entries(kind=np.array("conv3d")), "kind 'conv3d' is not one of conv2d, linear, "
                                            "maxpool, add"),
    (conv_entries(kind=None), "l.npz: missing 'kind'"),
    (conv_entries(weights=None), "l.npz: missing 'weights'"),
    (conv_entries(bias=np.zeros(2)), "unknown entry 'bias'"),
    (conv_entries(stride=np.array(0)), "stride=0 is out of range 1..65536"),
    (conv_entries(padding=np.array(-1)), "padding=-1 is out of range"),
    (conv_entries(in_bits=np.array(9)), "in_bits=9 is out of range 1..8"),
    (conv_entries(stride=np.array([1, 2])), "stride must be one integer"),
    (conv_entries(thresholds=np.array([[1, 2], [5, 3]])),
     r"thresholds\[1\] is not non-decreasing: thresholds\[1, 1\] = 3 < thresholds\[1, 0\] = 5"),
    (conv_entries(thresholds=np.array([[1, 2]])), r"thresholds must have shape \(K, L\) with "
                                                  r"K=2 output channels, got shape \(1, 2\)"),
    (conv_entries(thresholds=np.zeros((2, 256), np.int32)), "L=256 levels"),
    (conv_entries(thresholds=np.array([[0], [2**40]])), r"thresholds\[1, 0\] = 1099511627776 "
                                                          "does not fit in int32"),
    (dict(kind=np.array("linear"), weights=np.ones((2, 3)), stride=np.array(2)),
     "stride=2, padding=0 given, but stride and padding apply to conv2d and maxpool only"),
    (dict(kind=np.array("maxpool"), channels=np.array(3)), r"maxpool needs pool = \(KH, KW\)"),
    (dict(kind=np.array("maxpool"), channels=np.array(3), pool=np.array([2, 0])),
     "two integers in 1..256"),
    (dict(kind=np.array("maxpool"), pool=np.array([2, 2])), "channels must be one integer"),
    (dict(kind=np.array("maxpool"), pool=np.array([2, 2]), channels=np.array(2),
          thresholds=np.zeros((2, 1))), "a maxpool layer takes no thresholds"),
    (dict(kind=np.array("add"), channels=np.array(2), weights=np.ones((2, 4, 1, 1))),
     "add layers have no weights"),
    (dict(kind=np.array("add"), channels=np.array(0)), "channels=0 is out of range 1..65536"),
    (dict(kind=np.array("add"), channels=np.array(2), stride=np.array(2)),
     "stride and padding apply to conv2d and maxpool only"),
    (conv_entries(pool=np.array([2, 2])), "pool applies to maxpool/add layers, not conv2d"),
])
def test_bad_layer_files_name_the_problem(tmp_path, entries, message):
    path = save_npz(tmp_path / "l.npz", **entries)
    with pytest.raises(RtmapError, match=message) as info:
        load_layer(path)
    assert "\n" not in str(info.value)


def test_unreadable_layer_files(tmp_path):
    with pytest.raises(RtmapError, match="nope.npz: no such file"):
        load_layer(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(RtmapError, match="junk.npz: not a readable .npz layer file"):
        load_layer(tmp_path / "junk.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(RtmapError, match="single.npy: not a .npz layer file"):
        load_layer(tmp_path / "single.npy")
    with pytest.raises(RtmapError, match="is a directory"):
        load_layer(tmp_path)


CONV = Layer("conv2d", np.ones((4, 3, 3, 3), np.int8), padding=0, in_bits=4)
LINEAR = Layer("linear", np.ones((4, 6), np.int8), in_bits=2)


@pytest.mark.parametrize("layer,x,message", [
    (CONV, np.zeros((3, 5), np.uint8), r"conv2d input must have shape \(C, H, W\) or "
                                       r"\(N, C, H, W\), got shape \(3, 5\)"),
    (CONV, np.zeros((2, 5, 5), np.uint8), r"input has 2 channels \(shape \(2, 5, 5\)\) but the "
                                          "layer expects C=3"),
    (CONV, np.zeros((1, 2, 5, 5), np.uint8), "input has 2 channels"),
    (CONV, np.zeros((3, 2, 5), np.uint8), "input 2x5 with padding 0 is smaller than the 3x3 "
                                          "kernel"),
    (CONV, np.zeros((0, 3, 5, 5), np.uint8), r"input shape \(0, 3, 5, 5\) has an empty "
                                             "dimension"),
    (CONV, np.zeros((3, 5, 5), np.float32), "input dtype float32 is not an integer type"),
    (LINEAR, np.array([[0, 1, 2, 3, 4, 0]], np.uint8), r"input value 4 at \[0, 4\] is out of "
                                                       "range 0..3 for in_bits=2"),
    (LINEAR, np.array([0, 1, -1, 0, 0, 0]), r"input value -1 at \[2\] is out of range"),
    (LINEAR, np.zeros((2, 2, 6), np.uint8), r"linear input must have shape \(C,\) or \(N, C\)"),
])
def test_bad_inputs_name_the_problem(layer, x, message):
    with pytest.raises(RtmapError, match="x.npy: " + message) as info:
        check_input(layer, x, where="x.npy")
    assert "\n" not in str(info.value)


def test_inputs_load_and_check(tmp_path):
    rng = np.random.default_rng(0)
    x = random_input(rng, CONV, batch=2)
    np.save(tmp_path / "x.npy", x.astype(np.int64))
    checked = check_input(CONV, load_input(tmp_path / "x.npy"))
    assert checked.dtype == np.uint8
    np.testing.assert_array_equal(checked, x)
    with pytest.raises(RtmapError, match="y.npy: no such file"):
        load_input(tmp_path / "y.npy")
    (tmp_path / "bad.npy").write_text("garbage")
    with pytest.raises(RtmapError, match="bad.npy: not a readable .npy array"):
        load_input(tmp_path / "bad.npy")
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(RtmapError, match="two.npz: holds several arrays"):
        load_input(tmp_path / "two.npz")
