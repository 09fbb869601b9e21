"""The energy model's figures (issue #6): one ImageNet inference of a built-in network on the
RTM-AP, the SRAM-CAM AP and the ReRAM crossbar, at full input size, with the time the model
took (it compiles every layer). The default machine is the best point of the README's
sweep: arrays of 64 rows x 64 tracks x 24 domains.

`python bench/bench_energy.py [--network resnet18|vgg16] [--jobs N] [--rows R --tracks T
--domains D]` (VGG-16's fc6 alone takes minutes to compile)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the workers fill the cores already

from rtmap.cli import main  # noqa: E402


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet18", choices=("resnet18", "vgg16"))
    parser.add_argument("--jobs", default=str(os.cpu_count() or 1))
    parser.add_argument("--rows", default="64")
    parser.add_argument("--tracks", default="64")
    parser.add_argument("--domains", default="24")
    args = parser.parse_args()
    start = time.perf_counter()
    status = main(["energy", args.network, "--jobs", args.jobs, "--rows", args.rows,
                   "--tracks", args.tracks, "--domains", args.domains])
    print(f"model time: {time.perf_counter() - start:.1f} s on {args.jobs} processes")
    return status


if __name__ == "__main__":
    sys.exit(run())
