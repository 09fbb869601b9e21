"""`rtmap energy`'s table: per layer the operations and the energy by category, then the
totals, the latency and the ratios against the baselines."""

from __future__ import annotations

CATEGORIES = ("search", "write", "shift", "movement", "control")


def format_energy_report(name: str, report: dict) -> str:
    """Energies in microjoules per layer (one layer; ``x`` repeats of it are in the totals)."""
    header = (f"{'layer':>9} {'x':>2} {'cycles':>11} {'shifts':>10}"
              + "".join(f" {c + ' uJ':>12}" for c in CATEGORIES)
              + f" {'total uJ':>11} {'SRAM-AP uJ':>11} {'crossbar uJ':>11}")
    lines = [f"{name}: one inference on {report['params']['rows']} x "
             f"{report['params']['tracks']} x {report['params']['domains']}, costs from "
             f"{report['costs']}", header]
    for layer in report["layers"]:
        energy = layer["energy_j"]
        lines.append(f"{layer['name']:>9} {layer['repeat']:>2} {layer['cycles']:>11} "
                     f"{layer['shifts']:>10}"
                     + "".join(f" {energy[c] * 1e6:12.3f}" for c in CATEGORIES)
                     + f" {energy['total'] * 1e6:11.3f} {layer['sram_ap']['total'] * 1e6:11.3f}"
                     f" {layer['crossbar']['total'] * 1e6:11.3f}")
    lines += [
        f"energy per inference: {report['energy_per_inference_j'] * 1e3:.4f} mJ; latency "
        f"{report['latency_s'] * 1e3:.3f} ms",
        f"SRAM-CAM AP: {report['sram_ap_energy_j'] * 1e3:.4f} mJ ({report['ratio_vs_sram_ap']:.3g}"
        f"x ours); crossbar: {report['crossbar_energy_j'] * 1e3:.4f} mJ "
        f"({report['ratio_vs_crossbar']:.3g}x ours)",
        f"activation movement: {report['activation_movement_share']:.2%} of our energy",
    ]
    return "\n".join(lines)
