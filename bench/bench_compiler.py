"""Compiler speed and results on whole networks (issue #4): every conv and linear layer of
ResNet-18 (ImageNet shapes, random ternary weights with 40% zeros) compiled with CSE for a
4096 x 512 x 32 machine; per layer the compile time, adds before and after CSE, program
words and cycles per run. Layers that repeat are compiled once and counted that many times.

`python bench/bench_compiler.py [--network resnet18|vgg16] [--rows R --tracks T --domains D]`
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rtmap.compiler.networks import NETWORKS, random_layer_for
from rtmap.compiler.pipeline import compile_layer
from rtmap.params import MachineParams
from rtmap.run import run_layer
from rtmap.sim.golden import run_layer as golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=sorted(NETWORKS), default="resnet18")
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--tracks", type=int, default=512)
    parser.add_argument("--domains", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = MachineParams(rows=args.rows, tracks=args.tracks, domains=args.domains,
                           program_depth=1 << 24)
    rng = np.random.default_rng(args.seed)
    print(f"{args.network}: every conv and linear layer, 40% zero ternary weights, compiled "
          f"with CSE for {params.rows} x {params.tracks} x {params.domains}")
    print(f"{'layer':>9} {'x':>2} {'K x C x k x k':>17} {'mapping':>18} {'adds_naive':>10} "
          f"{'adds':>8} {'saved':>6} {'words':>8} {'cycles/run':>11} {'seconds':>8}")
    total_seconds = 0.0
    totals = {"add_naive": 0, "add": 0}
    for shape in NETWORKS[args.network]():
        layer = random_layer_for(shape, rng)
        start = time.perf_counter()
        compiled = compile_layer(layer, params, active_rows=min(shape.positions, params.rows))
        seconds = time.perf_counter() - start
        total_seconds += seconds * shape.repeat
        ops, stats = compiled.program.meta["ops"], compiled.program.meta["stats"]
        for name in totals:
            totals[name] += ops[name] * shape.repeat
        plan = compiled.plan
        mapping = (f"{len(plan.tiles)} tiles x {len(plan.groups)} groups" if plan.reloads
                   else f"resident, {len(plan.groups)} groups")
        dims = f"{shape.out_channels}x{shape.in_channels}x{shape.kernel}x{shape.kernel}"
        print(f"{shape.name:>9} {shape.repeat:>2} {dims:>17} {mapping:>18} "
              f"{ops['add_naive']:10d} {ops['add']:8d} {1 - ops['add'] / ops['add_naive']:6.1%} "
              f"{len(compiled.program.words):8d} {stats['cycles']:11d} {seconds:8.1f}",
              flush=True)
    print(f"{'total':>9} {'':>2} {'':>17} {'':>18} {totals['add_naive']:10d} {totals['add']:8d} "
          f"{1 - totals['add'] / totals['add_naive']:6.1%} {'':>8} {'':>11} "
          f"{total_seconds:8.1f}")
    if args.network == "resnet18":
        simulate_conv2(params, rng)


def simulate_conv2(params: MachineParams, rng: np.random.Generator) -> None:
    """Simulator speed: one full-size conv2_x layer (64 -> 64, 3x3, 56 x 56) on --backend sim."""
    shape = next(s for s in NETWORKS["resnet18"]() if s.name == "conv2_x")
    layer = random_layer_for(shape, rng)
    x = rng.integers(0, 16, (shape.in_channels, shape.height, shape.width)).astype(np.uint8)
    start = time.perf_counter()
    result = run_layer(layer, x, "sim", params)
    seconds = time.perf_counter() - start
    equal = np.array_equal(result.output, golden(layer, x))
    print(f"conv2_x at 56 x 56 on the simulator (compile included): {seconds:.1f} s, "
          f"{result.stats['cycles']} cycles, equal to the golden model: {equal}")


if __name__ == "__main__":
    main()
