"""The design-space sweep and the energy model's plots."""

import csv

import pytest

from rtmap.compiler.networks import LayerShape
from rtmap.errors import RtmapError
from rtmap.params import MachineParams
from rtmap.sim.energy import load_costs, network_energy
from rtmap.sim.energy_plot import plot_energy_report, plot_pareto
from rtmap.sim.sweep import COLUMNS, _mark_pareto, format_sweep, sweep, write_sweep_csv

SHAPES = [LayerShape("conv", "conv2d", 4, 3, 3, 1, 1, 4, 4, repeat=2),
          LayerShape("pool", "maxpool", 4, 4, 2, 2, 0, 4, 4),
          LayerShape("fc", "linear", 5, 16)]
BASE = MachineParams(program_depth=1 << 20)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def points():
    return sweep(SHAPES, BASE, [4, 16], [12, 40], [8, 16], load_costs())


def test_every_point_is_the_energy_model_on_that_machine(points):
    assert [(p["rows"], p["tracks"], p["domains"]) for p in points] == [
        (r, t, d) for r in (4, 16) for t in (12, 40) for d in (8, 16)]
    for point in points:
        if point["domains"] == 8:  # the conv's sums need 9 bits
            assert "needs a 9-bit accumulator" in point["infeasible"]
            assert point["energy_per_inference_j"] is None and not point["pareto"]
            continue
        params = MachineParams(rows=point["rows"], tracks=point["tracks"], domains=16,
                               program_depth=1 << 20)
        report = network_energy(SHAPES, params, load_costs())
        for key in COLUMNS[4:10]:
            assert point[key] == pytest.approx(report[key]), key
        assert point["infeasible"] == ""


def test_the_pareto_front_is_the_undominated_points():
    points = [{"energy_per_inference_j": e, "latency_s": t}
              for e, t in ((1, 5), (2, 2), (3, 1), (3, 3), (2, 2), (4, 1), (None, None))]
    _mark_pareto(points)
    assert [p["pareto"] for p in points] == [True, True, True, False, True, False, False]


def test_the_sweep_csv_has_a_row_per_point(points, tmp_path):
    path = write_sweep_csv(points, tmp_path / "out" / "sweep.csv")
    with path.open() as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == len(points)
    for row, point in zip(rows, points, strict=True):
        assert int(row["rows"]) == point["rows"] and row["pareto"] == str(point["pareto"])
        if point["infeasible"]:
            assert row["energy_per_inference_j"] == "" and row["infeasible"]
        else:
            assert float(row["energy_per_inference_j"]) == pytest.approx(
                point["energy_per_inference_j"])
    table = format_sweep(points)
    assert table.count("infeasible") == 4 and table.count(" *") == sum(
        p["pareto"] for p in points)


def test_plots_are_png_files(points, tmp_path):
    report = network_energy(SHAPES, MachineParams(rows=8, tracks=40, domains=16,
                                                  program_depth=1 << 20), load_costs())
    energy = plot_energy_report("tiny", report, tmp_path / "a" / "energy.png")
    pareto = plot_pareto("tiny", points, tmp_path / "pareto.png")
    for path in (energy, pareto):
        assert path.read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(RtmapError, match=r"energy\.svg: a plot is written as PNG"):
        plot_energy_report("tiny", report, tmp_path / "energy.svg")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RtmapError, match="cannot write the plot"):
        plot_pareto("tiny", points, blocker / "pareto.png")
