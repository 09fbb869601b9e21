"""CSE quality (issue #4): two-operand adds after folding and after our greedy-pair CSE on
random ternary matrices with 40% zeros, against the best open greedy-pair CSE's published
figures. Medians over seeds. `python bench/bench_cse.py`.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from rtmap.compiler.cse import eliminate, naive_adds
from rtmap.compiler.fold import fold_weights
from rtmap.sim.random_layer import random_layer

# (K, N): (adds after folding, adds after the reference greedy-pair CSE)
REFERENCE = {(32, 144): (2710, 1240), (64, 144): (5410, 2370)}
SEEDS = range(5)


def main() -> None:
    print("CSE on random K x N ternary matrices, 40% zeros (medians of "
          f"{len(SEEDS)} seeds)")
    print(f"{'K x N':>9} {'folded':>7} {'ours':>6} {'saved':>6} {'ref folded':>10} "
          f"{'ref CSE':>7} {'ours vs ref':>11} {'s/matrix':>8}")
    for (k, n), (ref_naive, ref_cse) in REFERENCE.items():
        naive, ours, seconds = [], [], []
        for seed in SEEDS:
            layer = random_layer(np.random.default_rng(seed), kind="linear", out_channels=k,
                                 in_channels=n, zero_fraction=0.4)
            sums = fold_weights(layer)
            start = time.perf_counter()
            result = eliminate(sums, n)
            seconds.append(time.perf_counter() - start)
            naive.append(naive_adds(sums))
            ours.append(result.adds)
        folded, cse = statistics.median(naive), statistics.median(ours)
        print(f"{f'{k} x {n}':>9} {folded:7.0f} {cse:6.0f} {1 - cse / folded:6.1%} "
              f"{ref_naive:10d} {ref_cse:7d} {cse / ref_cse - 1:+11.1%} "
              f"{statistics.median(seconds):8.2f}")


if __name__ == "__main__":
    main()
