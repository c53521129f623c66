"""How much GPU the openb protocol's fractional pods must leave unallocated at arrival 100.

For each seed, the pods that have arrived by 100% of the cluster's GPU capacity (the order of
`aicc sim openb`) are split into whole-GPU and fractional ones. Of the fractional pods it prints
their count and GPUs, Martello-Toth's L2 lower bound on the devices they need (a remainder no
packing avoids if all are placed) and the remainder best-fit-decreasing packing leaves, both
ignoring CPU, memory and nodes (so both are optimistic for a real placement).

With `--policy NAME` it also runs that placement policy over the same arrivals (random ties)
and shows where the GPU it leaves unallocated at arrival 100 lies: the devices in use grouped by
the shares they hold, with the free GPU of each group, largest first.

    .venv/bin/python benchmarks/openb_bound.py [--variant default] [--seeds 42-44]
    .venv/bin/python benchmarks/openb_bound.py --seeds 42 --policy fgd-plus
"""

from __future__ import annotations

import argparse
import bisect
import math
from pathlib import Path

import numpy as np

from aicc.scheduler.placement import demand_of, get_policy
from aicc.sim.openb import NodeList, PodList, arrivals, load_nodes, load_pods

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


def leftovers(nodes: NodeList, pods: PodList, policy: str, seed: int, rows: int = 12) -> None:
    """Print the free GPU a policy leaves at arrival 100, by the shares on each device."""
    state = nodes.state()
    chooser = get_policy(policy, workload=pods.workload())
    rng = np.random.default_rng([seed, 1])
    held: dict[tuple[int, int], list[int]] = {}
    used = arrived = 0
    for pod in arrivals(pods, nodes.gpu_capacity_milli, seed):
        demand = demand_of(pods.shapes[pods.shape[pod]].request())
        arrived += demand.gpu_milli
        if arrived > nodes.gpu_capacity_milli:
            break
        choice = chooser.choose(state, demand, rng)
        if choice is not None:
            state.apply(choice, demand)
            used += demand.gpu_milli
            for pick in choice.devices:
                held.setdefault((choice.node, pick.index), []).append(pick.milli)
    groups: dict[tuple[int, ...], list[int]] = {}
    for shares in held.values():
        if sum(shares) < MILLI:
            group = groups.setdefault(tuple(sorted(shares, reverse=True)), [0, 0])
            group[0] += 1
            group[1] += MILLI - sum(shares)
    free = nodes.gpu_capacity_milli - used
    share = 100 * used / nodes.gpu_capacity_milli
    print(f"{policy}, seed {seed}: {share:.2f}% allocated, {free / MILLI:.1f} GPUs free, on:")
    for shares, (devices, milli) in sorted(groups.items(), key=lambda g: -g[1][1])[:rows]:
        label = " + ".join(f"{s / MILLI:.2f}" for s in shares)
        print(f"  {label:<20} {devices:>5} devices  {milli / MILLI:6.1f} GPUs free")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="default")
    parser.add_argument("--seeds", default="42-44")
    parser.add_argument("--traces", type=Path, default=TRACES)
    parser.add_argument("--policy", default=None, help="also show where this policy leaves GPU")
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
        if args.policy:
            leftovers(nodes, pods, args.policy, seed)


if __name__ == "__main__":
    main()
