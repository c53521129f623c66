"""How much GPU the openb protocol's fractional pods must leave unallocated at arrival 100.

For each seed, the pods that have arrived by 100% of the cluster's GPU capacity (the order of
`aicc sim openb`) are split into whole-GPU and fractional ones. Of the fractional pods it prints
their count and GPUs, Martello-Toth's L2 lower bound on the devices they need (a remainder no
packing avoids if all are placed) and the remainder best-fit-decreasing packing leaves, both
ignoring CPU, memory and nodes (so both are optimistic for a real placement).

    .venv/bin/python benchmarks/openb_bound.py [--variant default] [--seeds 42-44]
"""

from __future__ import annotations

import argparse
import bisect
import math
from pathlib import Path

import numpy as np

from aicc.sim.openb import arrivals, load_nodes, load_pods

TRACES = (
    Path(__file__).resolve().parents[1] / ".." / "shared/data/traces/alibaba-gpu-v2023-openb/csv"
)
MILLI = 1000


def l2_devices(sizes: list[int]) -> int:
    """Martello-Toth's L2 lower bound on the devices (bins of MILLI) the sizes need."""
    best = 0
    for k in sorted({s for s in sizes if s <= MILLI // 2} | {0}):
        big = [s for s in sizes if s > MILLI - k]
        middle = [s for s in sizes if MILLI // 2 < s <= MILLI - k]
        small = sum(s for s in sizes if k <= s <= MILLI // 2)
        room = len(middle) * MILLI - sum(middle)
        best = max(best, len(big) + len(middle) + max(0, math.ceil((small - room) / MILLI)))
    return best


def best_fit_remainder(sizes: list[int]) -> int:
    """Milli-GPU left over when best-fit-decreasing packs the sizes onto devices."""
    left: list[int] = []  # free milli of each opened device, ascending
    for s in sorted(sizes, reverse=True):
        i = bisect.bisect_left(left, s)
        free = left.pop(i) - s if i < len(left) else MILLI - s
        bisect.insort(left, free)
    return sum(left)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--traces", type=Path, default=TRACES)
    args = parser.parse_args()
    first, _, last = args.seeds.partition("-")
    nodes = load_nodes(args.traces / "openb_node_list_gpu_node.csv")
    pods = load_pods(args.traces / f"openb_pod_list_{args.variant}.csv")
    capacity = nodes.gpu_capacity_milli
    for seed in range(int(first), int(last or first) + 1):
        order = arrivals(pods, capacity, seed)
        arrived = order[: int(np.searchsorted(np.cumsum(pods.gpu_milli[order]), capacity, "right"))]
        shapes = [pods.shapes[pods.shape[i]] for i in arrived]
        sizes = [s.milli for s in shapes if s.count == 1 and 0 < s.milli < MILLI]
        lower = l2_devices(sizes) * MILLI - sum(sizes)
        bfd = best_fit_remainder(sizes)
        print(
            f"seed {seed}: {len(sizes)} fractional pods, {sum(sizes) / MILLI:.1f} GPUs; "
            f"remainder >= {lower / MILLI:.1f} GPUs (L2, {100 - 100 * lower / capacity:.2f}% "
            f"at most), best-fit-decreasing {bfd / MILLI:.1f} GPUs "
            f"({100 - 100 * bfd / capacity:.2f}%)"
        )


if __name__ == "__main__":
    main()
