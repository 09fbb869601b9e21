"""`make e2e`: the trained digits TWN on every model, side by side, on the test split.

Four models classify the same test images: the float fake-quant network (recomputed from the
committed float parameters), the integer golden model of the network file, the instruction
simulator and the RTL in Verilator. Golden, simulator and RTL must agree bit for bit on every
image's outputs, and the RTL's clock cycles must equal the simulator's; the exit status is 1
otherwise. The RTL runs the images in ``--jobs`` processes, each with its own Verilator build.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from rtmap.params import MachineParams
from rtmap.run import run_network
from rtmap.sim.network import load_network
from rtmap.train import digits

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "digits"
# The machine the digits network runs on: conv2 and fc1 compile to about 21,000 words.
MACHINE = MachineParams(rows=64, tracks=64, domains=16, program_depth=32768)


def _rtl_part(model: Path, images: np.ndarray, build_dir: Path):
    start = time.perf_counter()
    result = run_network(load_network(model), images, "rtl", MACHINE, build_dir=build_dir)
    return result.output, result.stats, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, help="only the first N test images")
    parser.add_argument("--jobs", type=int, default=2, help="RTL processes (default 2)")
    parser.add_argument("--no-rtl", action="store_true", help="skip the RTL")
    parser.add_argument("--build-dir", default="build/e2e", help="Verilator builds")
    args = parser.parse_args(argv)

    model = MODEL_DIR / "digits_twn.npz"
    network = load_network(model)
    _, _, images, labels = digits.load_digits_split()
    if args.images:
        images, labels = images[:args.images], labels[:args.images]
    fake_quant = digits.load_state(digits.build_model(np.random.default_rng(0)),
                                   dict(np.load(MODEL_DIR / "digits_fakequant.npz")))
    print(f"{model.name}: {len(images)} test images of scikit-learn's digits, machine "
          f"{MACHINE.rows} x {MACHINE.tracks} x {MACHINE.domains}, program depth "
          f"{MACHINE.program_depth}")
    predictions = {"float fake-quant": digits.predict(fake_quant, images)}
    golden = run_network(network, images).output
    predictions["integer golden"] = golden.argmax(axis=1)

    start = time.perf_counter()
    on_sim = run_network(network, images, "sim", MACHINE)
    sim_seconds = time.perf_counter() - start
    predictions["instruction simulator"] = on_sim.output.argmax(axis=1)
    failures = []
    if not np.array_equal(on_sim.output, golden):
        failures.append("the simulator's outputs differ from the golden model's")

    if not args.no_rtl:
        parts = np.array_split(np.arange(len(images)), min(args.jobs, len(images)))
        start = time.perf_counter()
        with ProcessPoolExecutor(len(parts)) as pool:
            done = list(pool.map(_rtl_part, [model] * len(parts), [images[p] for p in parts],
                                 [Path(args.build_dir) / f"part{i}" for i in range(len(parts))]))
        rtl_seconds = time.perf_counter() - start
        rtl_output = np.concatenate([output for output, _, _ in done])
        rtl_cycles = sum(stats["clock_cycles"] for _, stats, _ in done)
        predictions["RTL (Verilator)"] = rtl_output.argmax(axis=1)
        if not np.array_equal(rtl_output, golden):
            failures.append("the RTL's outputs differ from the golden model's")
        # The simulator ran one batch, the RTL several: compare cycles batch by batch.
        sim_cycles = sum(run_network(network, images[p], "sim", MACHINE).stats["cycles"]
                         for p in parts) if len(parts) > 1 else on_sim.stats["cycles"]
        if rtl_cycles != sim_cycles:
            failures.append(f"RTL clock cycles {rtl_cycles} != simulator cycles {sim_cycles}")

    print(f"{'model':>24} {'accuracy':>9}")
    for name, predicted in predictions.items():
        print(f"{name:>24} {(predicted == labels).mean():>9.2%}")
    stats = on_sim.stats
    one = run_network(network, images[:1], "sim", MACHINE).stats
    print(f"cycles per inference: {stats['cycles'] / len(images):,.0f} in a batch of "
          f"{len(images)} (rows shared by images), {one['cycles']:,} alone")
    print(f"activation words per inference: {stats['words_in'] / len(images):,.1f} in, "
          f"{stats['words_out'] / len(images):,.1f} out in the batch; {one['words_in']:,} in, "
          f"{one['words_out']:,} out alone")
    print(f"instruction simulator: {len(images) / sim_seconds:.2f} images/s")
    if not args.no_rtl:
        print(f"RTL (Verilator, {len(parts)} processes): {len(images) / rtl_seconds:.2f} images/s "
              f"({rtl_cycles / rtl_seconds:,.0f} cycles/s, any Verilator build included)")
    if not failures:
        print("golden and simulator agree bit for bit on every image" if args.no_rtl else
              "golden, simulator and RTL agree bit for bit on every image; RTL clock cycles = "
              "simulator cycles")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
