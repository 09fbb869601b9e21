"""`rtmap energy`'s table: per layer the operations and the energy by category, then the
totals, the latency and the ratios against the baselines."""

from __future__ import annotations

CATEGORIES = ("search", "write", "shift", "movement", "control")


def format_energy_report(name: str, report: dict) -> str:
    """Energies in microjoules per layer (one layer; ``x`` repeats of it are in the totals);
    ``cycles`` and ``shifts`` summed over the layer's ``runs`` (one per array it occupies)."""
    header = (f"{'layer':>9} {'x':>2} {'runs':>5} {'cycles':>11} {'shifts':>10}"
              + "".join(f" {c + ' uJ':>12}" for c in CATEGORIES)
              + f" {'total uJ':>11} {'SRAM-AP uJ':>11} {'crossbar uJ':>11}")
    params = report["params"]
    lines = [f"{name}: one inference on {report['arrays']} arrays of {params['rows']} x "
             f"{params['tracks']} x {params['domains']}, costs from {report['costs']}", header]
    for layer in report["layers"]:
        energy = layer["energy_j"]
        lines.append(f"{layer['name']:>9} {layer['repeat']:>2} {layer['runs']:>5} "
                     f"{layer['cycles']:>11} "
                     f"{layer['shifts']:>10}"
                     + "".join(f" {energy[c] * 1e6:12.3f}" for c in CATEGORIES)
                     + f" {energy['total'] * 1e6:11.3f} {layer['sram_ap']['total'] * 1e6:11.3f}"
                     f" {layer['crossbar']['total'] * 1e6:11.3f}")
    parity = report["shift_cost_for_crossbar_parity_j"]
    paper = report["shift_cost_for_paper_ratio_j"]
    shift = report["shift_per_domain_track_j"]
    rest = report["energy_per_inference_j"] * (1 - report["shift_share"])
    crossbar = report["crossbar_energy_j"]
    lines += [
        f"energy per inference: {report['energy_per_inference_j'] * 1e3:.4f} mJ; latency "
        f"{report['latency_s'] * 1e3:.3f} ms",
        f"SRAM-CAM AP: {report['sram_ap_energy_j'] * 1e3:.4f} mJ ({report['ratio_vs_sram_ap']:.3g}"
        f"x ours), {report['sram_ap_latency_s'] * 1e3:.3f} ms; crossbar: "
        f"{report['crossbar_energy_j'] * 1e3:.4f} mJ ({report['ratio_vs_crossbar']:.3g}x ours), "
        f"{report['crossbar_latency_s'] * 1e3:.3f} ms",
        f"activation movement: {report['activation_movement_share']:.2%} of our energy; "
        f"ternary weights {report['zero_fraction']:.0%} zero",
        f"racetrack shift: {shift * 1e15:.3g} fJ per track and domain, {report['shift_share']:.1%}"
        f" of our energy (the rest is {rest * 1e3:.4g} mJ, {rest / crossbar:.3g}x the crossbar's"
        f"); the crossbar is matched at {_fj(parity)} and beaten 7.5x (the paper's ratio) at "
        f"{_fj(paper)}",
    ]
    return "\n".join(lines)


def _fj(joules: float | None) -> str:
    return "no shift cost (the rest is more)" if joules is None else f"{joules * 1e15:.3g} fJ"
