"""Compiler speed and results on whole networks (issue #4): every conv and linear layer of
ResNet-18 (ImageNet shapes, random ternary weights with 40% zeros) compiled with CSE for a
4096 x 512 x 32 machine. Every layer of the network is compiled, repeats included (each with
its own weights), on a pool of worker processes, largest first; the total is the wall time.
Per layer shape: compile seconds (the mean over its repeats), adds before and after CSE,
program words and cycles per run.

`python bench/bench_compiler.py [--network resnet18|vgg16] [--jobs N] [--rows R --tracks T
--domains D]`
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

# The workers already use every core: BLAS threads of their own (the CSE's pair counts are
# small matrix products) would only contend with them (measured: two conv4_x compiles side
# by side took 16.5 s each with OpenBLAS threads, 9.6 s without). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from rtmap.compiler.networks import NETWORKS, LayerShape, random_layer_for  # noqa: E402
from rtmap.compiler.pipeline import compile_layer  # noqa: E402
from rtmap.params import MachineParams  # noqa: E402
from rtmap.run import run_layer  # noqa: E402
from rtmap.sim.golden import run_layer as golden  # noqa: E402


def compile_one(shape: LayerShape, params: MachineParams, seed: int) -> dict:
    """Compile one layer of ``shape`` with weights drawn from ``seed``; its figures."""
    layer = random_layer_for(shape, np.random.default_rng(seed))
    start = time.perf_counter()
    compiled = compile_layer(layer, params, active_rows=min(shape.positions, params.rows))
    seconds = time.perf_counter() - start
    plan = compiled.plan
    return {"ops": compiled.program.meta["ops"], "cycles": compiled.program.meta["stats"][
        "cycles"], "words": len(compiled.program.words), "seconds": seconds,
            "mapping": (f"{len(plan.tiles)} tiles x {len(plan.groups)} groups" if plan.reloads
                        else f"resident, {len(plan.groups)} groups")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=sorted(NETWORKS), default="resnet18")
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--tracks", type=int, default=512)
    parser.add_argument("--domains", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: every core)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = MachineParams(rows=args.rows, tracks=args.tracks, domains=args.domains,
                           program_depth=1 << 24)
    # The figure is for the conv and linear layers: max-pools and adds are cheap.
    shapes = [s for s in NETWORKS[args.network]() if s.kind in ("conv2d", "linear")]
    print(f"{args.network}: all {sum(s.repeat for s in shapes)} conv and linear layers, 40% "
          f"zero ternary weights, compiled with CSE for {params.rows} x {params.tracks} x "
          f"{params.domains} on {args.jobs} worker processes")
    jobs = [(shape, args.seed * 1000 + index * 10 + copy)
            for index, shape in enumerate(shapes) for copy in range(shape.repeat)]
    jobs.sort(key=lambda job: -job[0].weights)  # largest first: the pool ends together
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [(shape, pool.submit(compile_one, shape, params, seed))
                   for shape, seed in jobs]
        results: dict[str, list[dict]] = {}
        for shape, future in futures:
            results.setdefault(shape.name, []).append(future.result())
    wall = time.perf_counter() - start
    print(f"{'layer':>9} {'x':>2} {'K x C x k x k':>17} {'mapping':>18} {'adds_naive':>10} "
          f"{'adds':>8} {'saved':>6} {'words':>8} {'cycles/run':>11} {'seconds':>8}")
    totals = {"add_naive": 0, "add": 0}
    busy = 0.0
    for shape in shapes:
        runs = results[shape.name]
        first = runs[0]
        for name in totals:
            totals[name] += sum(r["ops"][name] for r in runs)
        seconds = sum(r["seconds"] for r in runs) / len(runs)
        busy += seconds * len(runs)
        dims = f"{shape.out_channels}x{shape.in_channels}x{shape.kernel}x{shape.kernel}"
        ops = first["ops"]
        print(f"{shape.name:>9} {shape.repeat:>2} {dims:>17} {first['mapping']:>18} "
              f"{ops['add_naive']:10d} {ops['add']:8d} {1 - ops['add'] / ops['add_naive']:6.1%} "
              f"{first['words']:8d} {first['cycles']:11d} {seconds:8.1f}")
    print(f"{'total':>9} {'':>2} {'':>17} {'':>18} {totals['add_naive']:10d} {totals['add']:8d} "
          f"{1 - totals['add'] / totals['add_naive']:6.1%}")
    print(f"compile time for the whole network: {wall:.1f} s wall clock on {args.jobs} "
          f"processes ({busy:.1f} s of compiling in all)")
    if args.network == "resnet18":
        simulate_conv2(params, np.random.default_rng(args.seed))


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
