"""How much GPU the openb protocol's fractional pods must leave unallocated at arrival 100.

For each seed, the pods that have arrived by 100% of the cluster's GPU capacity (the order of
`aicc sim openb`) are split into whole-GPU and fractional ones. Of the fractional pods it prints
their count and GPUs and three remainders, ignoring CPU, memory and nodes (so all are optimistic
for a real placement): Martello-Toth's L2 lower bound, the cutting-stock LP's optimum (a tighter
lower bound: no packing of all of them leaves less), and what best-fit-decreasing leaves.

Unallocated GPU at arrival 100 is at least the LP remainder of the fractional pods a policy
placed: whole-GPU pods fill their devices, so `allocated <= capacity - remainder`. A policy that
places every pod that fits places every fractional one until the cluster fills, so the fill
curve, `min(a, 1 - LP remainder of the fractional pods arrived by a)` over arrival points `a`,
shows about where any such policy ends (up to the few shares that arrive later and still fit).

With `--policy NAME` it also runs that placement policy over the same arrivals (random ties),
gives the LP remainder of the fractional pods it placed (what is left above it is all that a
better packing of the same pods could gain) and shows where the GPU it leaves unallocated lies:
the devices in use grouped by the shares they hold, with the free GPU of each group.

    .venv/bin/python benchmarks/openb_bound.py [--variant default] [--seeds 42-44]
    .venv/bin/python benchmarks/openb_bound.py --seeds 42 --policy fgd-plus
"""

from __future__ import annotations

import argparse
import bisect
import math
from collections import Counter
from pathlib import Path

import numpy as np

from aicc.scheduler.placement import demand_of, get_policy
from aicc.scheduler.placement.worth import cutting_stock
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


def lp_remainder(sizes: list[int]) -> float:
    """Milli-GPU that the cutting-stock LP's best packing of the sizes leaves (a lower bound)."""
    counts = Counter(sizes)
    if not counts:
        return 0.0
    order = sorted(counts, reverse=True)
    packing = cutting_stock(order, [counts[s] for s in order])
    assert packing is not None
    return packing.devices * MILLI - sum(sizes)


def fill_curve(sizes: list[int], arrived: list[int], capacity: int) -> tuple[float, float]:
    """The largest `min(a, 1 - LP remainder of the fractional pods arrived by a)` over a in
    90-100% by 0.5% steps, and its `a` (fractions): `sizes[i]` arrived at milli `arrived[i]`."""
    best = (0.0, 0.0)
    for a in np.arange(0.90, 1.0 + 1e-9, 0.005):
        early = [s for s, t in zip(sizes, arrived, strict=True) if t <= a * capacity]
        best = max(best, (min(a, 1 - lp_remainder(early) / capacity), a))
    return best


def leftovers(nodes: NodeList, pods: PodList, policy: str, seed: int, rows: int = 12) -> None:
    """Print the free GPU a policy leaves at arrival 100, by the shares on each device."""
    state = nodes.state()
    chooser = get_policy(policy, workload=pods.workload())
    rng = np.random.default_rng([seed, 1])
    held: dict[tuple[int, int], list[int]] = {}
    used = arrived = 0
    placed: list[int] = []  # the fractional shares placed
    for pod in arrivals(pods, nodes.gpu_capacity_milli, seed):
        demand = demand_of(pods.shapes[pods.shape[pod]].request())
        arrived += demand.gpu_milli
        if arrived > nodes.gpu_capacity_milli:
            break
        choice = chooser.choose(state, demand, rng)
        if choice is not None:
            state.apply(choice, demand)
            used += demand.gpu_milli
            if demand.shared:
                placed.append(demand.milli)
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
    lower = lp_remainder(placed)
    print(
        f"{policy}, seed {seed}: {share:.2f}% allocated, {free / MILLI:.1f} GPUs free; the LP "
        f"packing of the {len(placed)} fractional pods it placed leaves {lower / MILLI:.1f}, so a "
        f"better packing of them gains at most {(free - lower) / MILLI:.1f} GPUs "
        f"({100 * (free - lower) / nodes.gpu_capacity_milli:.2f} points). Free GPU on:"
    )
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
        at = np.cumsum(pods.gpu_milli[arrived])  # GPU milli arrived by each pod, in order
        fractional = [k for k, s in enumerate(shapes) if s.count == 1 and 0 < s.milli < MILLI]
        sizes = [shapes[k].milli for k in fractional]
        lower = l2_devices(sizes) * MILLI - sum(sizes)
        lp = lp_remainder(sizes)
        bfd = best_fit_remainder(sizes)
        ceiling, a = fill_curve(sizes, [int(at[k]) for k in fractional], capacity)
        print(
            f"seed {seed}: {len(sizes)} fractional pods, {sum(sizes) / MILLI:.1f} GPUs; "
            f"remainder >= {lower / MILLI:.1f} GPUs (L2, {100 - 100 * lower / capacity:.2f}% "
            f"at most), >= {lp / MILLI:.1f} (LP, {100 - 100 * lp / capacity:.2f}%), "
            f"best-fit-decreasing {bfd / MILLI:.1f} ({100 - 100 * bfd / capacity:.2f}%); "
            f"fill curve {100 * ceiling:.2f}% at arrival {100 * a:.1f}%"
        )
        if args.policy:
            leftovers(nodes, pods, args.policy, seed)


if __name__ == "__main__":
    main()
