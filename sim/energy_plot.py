"""`rtmap energy --plot` and `rtmap sweep --plot`: the figures of the energy model, drawn with
matplotlib (headless) into a PNG."""

from __future__ import annotations

from pathlib import Path

from ..errors import RtmapError

TECHNOLOGIES = (("energy_j", "RTM-AP (ours)"), ("sram_ap", "SRAM-CAM AP"),
                ("crossbar", "ReRAM crossbar"))


def check_plot_path(path) -> Path:
    """A plot is a PNG: checked before any drawing (and, by the CLI, before any work)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise RtmapError(f"{path}: a plot is written as PNG; name it FILE.png")
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    return plt


def _categories(energy: dict) -> list[str]:
    return [name for name in energy if name not in ("total", "latency_s")]


def plot_energy_report(name: str, report: dict, path) -> Path:
    """Three panels: our energy per layer stacked by category (a layer's repeats included),
    the three technologies' totals (log scale), and each one's breakdown in shares."""
    path = check_plot_path(path)
    plt = _pyplot()
    layers = report["layers"]
    figure, (per_layer, totals, shares) = plt.subplots(
        1, 3, figsize=(16, 5), gridspec_kw={"width_ratios": [3, 1, 1.4]})

    labels = [layer["name"] + (f" x{layer['repeat']}" if layer["repeat"] > 1 else "")
              for layer in layers]
    bottom = [0.0] * len(layers)
    for category in _categories(layers[0]["energy_j"]):
        heights = [layer["energy_j"][category] * layer["repeat"] * 1e6 for layer in layers]
        per_layer.bar(labels, heights, bottom=bottom, label=category)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    per_layer.set_ylabel("energy per inference (uJ)")
    per_layer.set_title(f"{name}: RTM-AP energy by layer and category")
    per_layer.tick_params(axis="x", labelrotation=60)
    per_layer.legend()

    names = [label for _, label in TECHNOLOGIES]
    sums = [sum(layer[key]["total"] * layer["repeat"] for layer in layers) * 1e6
            for key, _ in TECHNOLOGIES]
    bars = totals.bar(names, sums, color=["tab:green", "tab:blue", "tab:red"])
    totals.bar_label(bars, labels=[f"{value:.3g}" for value in sums])
    totals.set_yscale("log")
    totals.set_ylabel("energy per inference (uJ, log scale)")
    totals.set_title("totals")
    totals.tick_params(axis="x", labelrotation=20)

    for index, (key, _) in enumerate(TECHNOLOGIES):
        parts = {}
        for layer in layers:
            for category in _categories(layer[key]):
                parts[category] = parts.get(category, 0.0) + layer[key][category] * layer["repeat"]
        whole = sum(parts.values()) or 1.0
        start = 0.0
        for category, value in parts.items():
            share = 100 * value / whole
            shares.barh(index, share, left=start)
            if share >= 6:
                shares.text(start + share / 2, index, category, ha="center", va="center",
                            fontsize=8)
            start += share
    shares.set_yticks(range(len(TECHNOLOGIES)), names)
    shares.set_xlabel("share of the technology's energy (%)")
    shares.set_title("where the energy goes")
    shares.set_xlim(0, 100)

    figure.tight_layout()
    return _save(figure, plt, path)


def plot_pareto(name: str, points: list[dict], path) -> Path:
    """Energy against latency of every feasible sweep point, the Pareto front joined up and
    its points labelled rows x tracks x domains."""
    path = check_plot_path(path)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 6))
    feasible = [p for p in points if p["energy_per_inference_j"] is not None]
    front = sorted((p for p in feasible if p["pareto"]), key=lambda p: p["latency_s"])
    axes.scatter([p["latency_s"] * 1e3 for p in feasible],
                 [p["energy_per_inference_j"] * 1e3 for p in feasible],
                 color="tab:gray", label="design point")
    axes.plot([p["latency_s"] * 1e3 for p in front],
              [p["energy_per_inference_j"] * 1e3 for p in front],
              "o-", color="tab:red", label="Pareto front")
    labels: dict[tuple, list[str]] = {}  # machines with equal figures share one label
    for p in front:
        spot = (p["latency_s"] * 1e3, p["energy_per_inference_j"] * 1e3)
        labels.setdefault(spot, []).append(f"{p['rows']}x{p['tracks']}x{p['domains']}")
    for spot, names in labels.items():
        axes.annotate(", ".join(names), spot, textcoords="offset points", xytext=(4, 4),
                      fontsize=8)
    for set_scale, values in ((axes.set_xscale, [p["latency_s"] for p in feasible]),
                              (axes.set_yscale, [p["energy_per_inference_j"] for p in feasible])):
        if max(values) > 10 * min(values):  # log scale only where it spreads the points
            set_scale("log")
    axes.set_xlabel("latency per inference (ms)")
    axes.set_ylabel("energy per inference (mJ)")
    axes.set_title(f"{name}: rows x tracks x domains sweep")
    axes.legend()
    figure.tight_layout()
    return _save(figure, plt, path)


def _save(figure, plt, path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise RtmapError(f"{path}: cannot write the plot ({exc.strerror})") from None
    finally:
        plt.close(figure)
    return path
