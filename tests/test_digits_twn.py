"""The committed digits TWN: it is the fold of its committed float parameters, it keeps the
fake-quant network's accuracy, and the simulator and the RTL run it bit for bit (a subset of
the test split here; `make e2e` runs all of it)."""

from pathlib import Path

import numpy as np
import pytest

from rtmap.isa import COUNTERS
from rtmap.params import MachineParams
from rtmap.run import run_network
from rtmap.sim.network import load_network
from rtmap.train import digits
from rtmap.train.fold import to_network

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "digits"
MACHINE = MachineParams(rows=64, tracks=64, domains=16, program_depth=32768)


@pytest.fixture(scope="module")
def model():
    return load_network(MODEL_DIR / "digits_twn.npz")


@pytest.fixture(scope="module")
def fake_quant():
    return digits.load_state(digits.build_model(np.random.default_rng(0)),
                             dict(np.load(MODEL_DIR / "digits_fakequant.npz")))


@pytest.fixture(scope="module")
def test_split():
    _, _, images, labels = digits.load_digits_split()
    return images, labels


def test_the_committed_network_is_the_fold_of_the_committed_float_parameters(model, fake_quant):
    folded = to_network(fake_quant, digits.INPUT_SHAPE, digits.IN_BITS, digits.NAMES)
    assert folded.describe() == model.describe()
    for key, array in model.arrays().items():
        np.testing.assert_array_equal(folded.arrays()[key], array, err_msg=key)


def test_the_integer_network_keeps_the_fake_quant_accuracy(model, fake_quant, test_split):
    images, labels = test_split
    assert len(images) == 360
    predicted = run_network(model, images).output.argmax(axis=1)
    np.testing.assert_array_equal(predicted, digits.predict(fake_quant, images))
    assert (predicted == labels).mean() >= 0.95


def test_the_simulator_runs_it_bit_exact(model, test_split):
    images = test_split[0][:3]
    on_sim = run_network(model, images, "sim", MACHINE)
    np.testing.assert_array_equal(on_sim.output, run_network(model, images).output)


@pytest.mark.rtl
@pytest.mark.xdist_group("digits_rtl")
def test_the_rtl_runs_it_bit_exact_cycle_for_cycle(model, test_split, rtl_build_dir):
    images = test_split[0][5:7]
    on_sim = run_network(model, images, "sim", MACHINE)
    on_rtl = run_network(model, images, "rtl", MACHINE, build_dir=rtl_build_dir)
    np.testing.assert_array_equal(on_rtl.output, run_network(model, images).output)
    assert {k: on_rtl.stats[k] for k in COUNTERS} == {k: on_sim.stats[k] for k in COUNTERS}
    assert on_rtl.stats["clock_cycles"] == on_sim.stats["cycles"]
