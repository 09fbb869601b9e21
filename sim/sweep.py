"""`rtmap sweep`: the energy model over a grid of machine sizes (rows x tracks x domains), one
CSV row per design point and the points on the energy-latency Pareto front marked."""

from __future__ import annotations

import csv
import itertools
from dataclasses import replace
from pathlib import Path

from ..errors import RtmapError
from ..params import MachineParams
from .energy import ZERO_FRACTION, Costs, count_layers, layer_tasks, summarise

COLUMNS = ("rows", "tracks", "domains", "shift_latency", "energy_per_inference_j",
           "latency_s", "ratio_vs_crossbar", "ratio_vs_sram_ap", "activation_movement_share",
           "shift_share", "pareto", "infeasible")


def sweep(shapes, base: MachineParams, rows, tracks, domains, costs: Costs, *,
          zero_fraction: float = ZERO_FRACTION, seed: int = 0, jobs: int = 1,
          layers=None) -> list[dict]:
    """One point per (rows, tracks, domains): the network's totals on that machine, or why the
    compiler cannot map it there (``infeasible``). Every layer of every point is one task of a
    single process pool, so a sweep keeps ``jobs`` cores busy. ``layers``: a network file's real
    layers, one per shape (else random ones are drawn)."""
    shapes = list(shapes)
    machines = []
    for r, t, d in itertools.product(rows, tracks, domains):
        try:
            machines.append(replace(base, rows=r, tracks=t, domains=d))
        except RtmapError as exc:  # a size the hardware itself rejects
            machines.append(f"{r}x{t}x{d}: {exc}")
    tasks = [task for params in machines if not isinstance(params, str)
             for task in layer_tasks(shapes, params, zero_fraction=zero_fraction, seed=seed,
                                     layers=layers)]
    counted = iter(count_layers(tasks, jobs))
    points = []
    for (r, t, d), params in zip(itertools.product(rows, tracks, domains), machines, strict=True):
        point = {"rows": r, "tracks": t, "domains": d, "shift_latency": base.shift_latency}
        if isinstance(params, str):
            problem = params
        else:
            results = [next(counted) for _ in shapes]
            problem = next((result for result in results if isinstance(result, str)), None)
        if problem:
            point.update(dict.fromkeys(COLUMNS[4:10]), infeasible=problem)
        else:
            report = summarise(shapes, results, params, costs, zero_fraction)
            point.update({key: report[key] for key in COLUMNS[4:10]}, infeasible="")
        points.append(point)
    _mark_pareto(points)
    return points


def _mark_pareto(points: list[dict]) -> None:
    """A feasible point is on the front when no other point is at least as good in energy and
    latency and better in one of them."""
    feasible = [p for p in points if p["energy_per_inference_j"] is not None]
    for point in points:
        point["pareto"] = point in feasible and not any(
            other["energy_per_inference_j"] <= point["energy_per_inference_j"]
            and other["latency_s"] <= point["latency_s"]
            and (other["energy_per_inference_j"], other["latency_s"])
            != (point["energy_per_inference_j"], point["latency_s"])
            for other in feasible)


def write_sweep_csv(points: list[dict], path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(points)
    except OSError as exc:
        raise RtmapError(f"{path}: cannot write the sweep ({exc.strerror})") from None
    return path


def format_sweep(points: list[dict]) -> str:
    lines = [f"{'rows':>6} {'tracks':>6} {'domains':>7} {'energy mJ':>11} {'latency ms':>11} "
             f"{'vs xbar':>8} {'shift %':>8} pareto"]
    for p in points:
        if p["infeasible"]:
            lines.append(f"{p['rows']:>6} {p['tracks']:>6} {p['domains']:>7}  infeasible: "
                         f"{p['infeasible']}")
            continue
        lines.append(f"{p['rows']:>6} {p['tracks']:>6} {p['domains']:>7} "
                     f"{p['energy_per_inference_j'] * 1e3:11.4g} {p['latency_s'] * 1e3:11.4g} "
                     f"{p['ratio_vs_crossbar']:8.3g} {p['shift_share']:8.1%} "
                     f"{'*' if p['pareto'] else ''}")
    return "\n".join(lines)
