"""Correctness on real layer shapes (issue #4): every layer shape of ResNet-18 (convs,
max-pool, residual adds, fc) and VGG-16 (convs, max-pools, fc), with their channels and
kernels but the input scaled down to SIZE x SIZE (fc6 and fc7, too wide to simulate whole,
keep every input but only the output channels of 5 M weights), random ternary weights
(40% zeros) and 4-bit inputs, every other layer with thresholds (max-pools have none);
compiled and run on the instruction simulator, compared bit for bit with the golden model.
Prints one row per shape (adds: adds, or maxima for a max-pool); exits 1 on any mismatch.

`python bench/bench_networks.py [--network resnet18|vgg16] [--size 4] [--rows --tracks --domains]`
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

from rtmap.compiler.networks import NETWORKS, random_layer_for
from rtmap.params import MachineParams
from rtmap.run import run_layer

# Fully connected layers wider than this (VGG-16's fc6 and fc7) would take hours in the
# Python simulator: they run with all their inputs but fewer output channels.
MAX_LINEAR_WEIGHTS = 5_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=sorted(NETWORKS), nargs="+",
                        default=["resnet18", "vgg16"])
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--tracks", type=int, default=128)
    parser.add_argument("--domains", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = MachineParams(rows=args.rows, tracks=args.tracks, domains=args.domains,
                           program_depth=1 << 24)
    rng = np.random.default_rng(args.seed)
    failures = 0
    for network in args.network:
        print(f"{network}, inputs scaled to {args.size} x {args.size}, sim vs golden on "
              f"{params.rows} x {params.tracks} x {params.domains}")
        print(f"{'layer':>9} {'K x C x k x k':>17} {'input':>9} {'levels':>6} {'adds':>8} "
              f"{'cycles':>10} {'equal':>5} {'seconds':>8}")
        for index, shape in enumerate(NETWORKS[network]()):
            scaled = shape.scaled(args.size)
            if shape.kind == "linear" and shape.weights > MAX_LINEAR_WEIGHTS:
                # No spatial size to cut: keep every input (the tiling through the tracks)
                # and as many output channels as the weight budget allows.
                scaled = replace(scaled, out_channels=MAX_LINEAR_WEIGHTS // shape.in_channels)
            dims = f"{scaled.out_channels}x{shape.in_channels}x{shape.kernel}x{shape.kernel}"
            thresholded = index % 2 and shape.kind != "maxpool"
            layer = random_layer_for(scaled, rng, levels=15 if thresholded else None)
            x_shape = (shape.in_channels,) if shape.kind == "linear" else \
                (shape.in_channels, scaled.height, scaled.width)
            x = rng.integers(0, 1 << layer.in_bits, x_shape).astype(np.uint8)
            start = time.perf_counter()
            sim = run_layer(layer, x, "sim", params)
            seconds = time.perf_counter() - start
            equal = np.array_equal(sim.output, run_layer(layer, x, "golden").output)
            failures += not equal
            levels = 0 if layer.thresholds is None else layer.thresholds.shape[1]
            size = "-" if shape.kind == "linear" else f"{scaled.height}x{scaled.width}"
            print(f"{shape.name:>9} {dims:>17} {size:>9} {levels:>6} "
                  f"{sim.stats['ops']['add'] + sim.stats['ops']['max']:8d} "
                  f"{sim.stats['cycles']:10d} "
                  f"{'yes' if equal else 'NO':>5} {seconds:8.1f}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
