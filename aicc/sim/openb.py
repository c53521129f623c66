"""The FGD paper's openb experiment (Alibaba GPU trace v2023), exactly as its protocol states.

Protocol (docs/benchmarks-protocol.md §1):
- the cluster is the node list (the 1,213 GPU nodes, 6,212 GPUs, in the default run);
- per seed, the pods are sorted by name and shuffled; then pods sampled with replacement from the
  trace are appended while the total GPU request stays within 1.3 x the cluster's GPUs (if the
  trace alone asks for more, random pods are removed until it does not);
- pods arrive one at a time and nothing departs; a pod that does not fit is dropped;
- after each arrival, arrive% = GPU milli requested so far (dropped pods included) / capacity and
  alloc% = GPU milli allocated / capacity; `alloc_pct[k]` is the mean alloc% over the arrivals
  whose arrive% rounds (half to even) to k, or to k-1..k+1 when none does; `frag_ratio_pct_at_90`
  is the same mean at 90 of fragmented / idle GPU capacity, fragmentation measured against the
  trace's own task shapes (see `aicc.scheduler.placement.frag`).

The seed drives the shuffle and the resampling (`numpy.random.default_rng(seed)`) and, through
a second stream (`default_rng([seed, 1])`), the policy's random tie-breaks.

Ties among equal best scores: `ties="random"` (the protocol as written, and kube-scheduler)
picks uniformly per decision; `ties="node-order"` takes the first tied node in a per-seed random
node order (`default_rng([seed, 2])`), which is what the FGD authors' simulator does in effect and
what reproduces their published figures where integer scores tie often (BENCHMARKS.md).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aicc.scheduler.placement import (
    REGISTRY,
    Choice,
    ClusterState,
    Demand,
    FragModel,
    TaskMix,
    TaskShape,
    demand_of,
    get_policy,
)
from aicc.scheduler.snapshot import Bind, DeviceView, JobView, NodeView, Snapshot

TUNE_RATIO = 1.3
TIES = ("random", "node-order")
ALLOC_POINTS = (80, 90, 95, 100, 110, 130)
FRAG_POINT = 90
DEFAULT_SEEDS = tuple(range(42, 52))
SIM_NOW = datetime(2023, 1, 1, tzinfo=UTC)  # the one time a profile's cycle sees

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NodeList:
    names: list[str]
    cpu_milli: IntArray
    memory_mib: IntArray
    gpus: IntArray
    model: list[str]

    @property
    def gpu_capacity_milli(self) -> int:
        return int(self.gpus.sum()) * 1000

    def state(self) -> ClusterState:
        return ClusterState.from_arrays(
            self.names, self.cpu_milli, self.memory_mib, self.gpus, self.model
        )


@dataclass(frozen=True)
class PodList:
    """Pods as shape indices into `shapes` (the trace has a few hundred distinct shapes)."""

    names: list[str]
    shape: IntArray
    shapes: list[TaskShape]

    @property
    def gpu_milli(self) -> IntArray:
        per_shape = np.array([s.count * s.milli for s in self.shapes], dtype=np.int64)
        result: IntArray = per_shape[self.shape]
        return result

    def workload(self) -> TaskMix:
        """The original list's distinct shapes, weighted by how many pods have each."""
        counts = np.bincount(self.shape, minlength=len(self.shapes))
        return TaskMix(self.shapes, [float(c) for c in counts])


def load_nodes(path: Path | str) -> NodeList:
    """An openb node list: sn, cpu_milli, memory_mib, gpu, model."""
    names, cpu, mem, gpus, model = [], [], [], [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            names.append(row["sn"])
            cpu.append(int(row["cpu_milli"]))
            mem.append(int(row["memory_mib"]))
            gpus.append(int(row["gpu"]))
            model.append((row.get("model") or "").strip())
    return NodeList(
        names,
        np.array(cpu, dtype=np.int64),
        np.array(mem, dtype=np.int64),
        np.array(gpus, dtype=np.int64),
        model,
    )


def load_pods(path: Path | str) -> PodList:
    """An openb pod list: name, cpu_milli, memory_mib, num_gpu, gpu_milli and, except in the
    multigpu variants, gpu_spec (`|`-separated acceptable models). Other columns are ignored."""
    names: list[str] = []
    index: dict[TaskShape, int] = {}
    shape: list[int] = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            count, milli = int(row["num_gpu"]), int(row["gpu_milli"])
            spec = (row.get("gpu_spec") or "").strip()
            models = tuple(m.strip() for m in spec.split("|") if m.strip()) or None
            demand = demand_of(
                TaskShape(
                    int(row["cpu_milli"]), int(row["memory_mib"]), count, milli, models
                ).request()
            )
            key = TaskShape.of(demand)
            names.append(row["name"])
            shape.append(index.setdefault(key, len(index)))
    return PodList(names, np.array(shape, dtype=np.int64), list(index))


def arrivals(pods: PodList, capacity_milli: int, seed: int) -> IntArray:
    """The protocol's arrival order for one seed: pod indices, resampled copies included."""
    rng = np.random.default_rng(seed)
    by_name = np.array(sorted(range(len(pods.names)), key=pods.names.__getitem__), dtype=np.int64)
    order = by_name[rng.permutation(len(by_name))]
    gpu = pods.gpu_milli
    target = TUNE_RATIO * capacity_milli
    total = int(gpu[order].sum())
    if total > target:  # a variant that alone asks for more than 1.3x: drop random pods
        keep = list(order)
        while total > target:
            total -= int(gpu[keep.pop(int(rng.integers(len(keep))))])
        return np.array(keep, dtype=np.int64)
    extra: list[int] = []
    while True:
        pick = int(by_name[int(rng.integers(len(by_name)))])
        if total + int(gpu[pick]) > target:
            break
        total += int(gpu[pick])
        extra.append(pick)
    return np.concatenate([order, np.array(extra, dtype=np.int64)])


@dataclass
class Trace:
    """One run's events: after arrival i, GPU milli requested and allocated so far, and the
    fragmented GPU milli (NaN where not measured: only near `FRAG_POINT`)."""

    arrived: IntArray
    allocated: IntArray
    frag: FloatArray
    capacity_milli: int
    placed: int  # pods placed (CPU-only ones included)
    seconds: float  # spent placing pods (policy and state update)
    where: list[str] | None = None  # through a profile: the node of each arrival ("" dropped)


def simulate(
    nodes: NodeList, pods: PodList, policy_name: str, seed: int, *, ties: str = "random"
) -> Trace:
    """Run the protocol once: with a placement policy of that name, else through the scheduler
    profile of that name (`simulate_profile`)."""
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}")
    if policy_name not in REGISTRY:
        return simulate_profile(nodes, pods, policy_name, seed, ties=ties)
    state = nodes.state()
    if ties == "node-order":
        state.tie_order = np.random.default_rng([seed, 2]).permutation(state.size)
    capacity = nodes.gpu_capacity_milli
    workload = pods.workload()
    policy = get_policy(policy_name, workload=workload)
    meter = FragModel(workload, state)
    demands: list[Demand] = [demand_of(s.request()) for s in pods.shapes]
    order = arrivals(pods, capacity, seed)
    rng = np.random.default_rng([seed, 1])
    n = len(order)
    arrived = np.cumsum(pods.gpu_milli[order])
    allocated = np.zeros(n, dtype=np.int64)
    frag = np.full(n, np.nan)
    near = np.abs(np.round(arrived * 100 / capacity) - FRAG_POINT) <= 1
    used = placed = 0
    spent = 0.0
    for i, pod in enumerate(order):
        demand = demands[pods.shape[pod]]
        began = time.perf_counter()
        choice = policy.choose(state, demand, rng)
        if choice is not None:
            state.apply(choice, demand)
            used += demand.gpu_milli
            placed += 1
        spent += time.perf_counter() - began
        allocated[i] = used
        if near[i]:
            frag[i] = meter.total(state)
    return Trace(arrived, allocated, frag, capacity, placed, spent)


def simulate_profile(
    nodes: NodeList, pods: PodList, profile_name: str, seed: int, *, ties: str = "random"
) -> Trace:
    """Run the protocol once through a scheduler profile's own cycle: what the server runs.

    The pods are offered one at a time to one long `Cycle` (`Cycle.offer`) over `NodeView`s of
    the node list, so each goes through the profile's admission, model choice and placement
    (its `placement.policy` when it names one, `placer.py`) exactly as a pending job of the
    live server would. The profile's reservation and preemption are off: the protocol has no
    queue and no preemption, a pod that does not fit is dropped. The policy's workload is what
    a fresh cycle would see at each arrival (`placer.snapshot_workload`): the pods placed so
    far (running) and the arriving one (pending); never the trace's own shape counts.

    Ties: the live path takes the first of equal nodes in snapshot order. `node-order` lists
    the nodes in the same per-seed random order as `simulate` ranks them, so the two compare
    like for like; `random` lists them in file order and breaks ties with the seed's stream.
    """
    from aicc.scheduler.framework import Cycle
    from aicc.scheduler.placer import PolicyPlacer
    from aicc.scheduler.profiles import get_profile

    profile = replace(get_profile(profile_name), reserve=None, preempt=None)
    rng = np.random.default_rng([seed, 1])
    listing = np.arange(len(nodes.names))
    if ties == "node-order":
        listing = np.argsort(np.random.default_rng([seed, 2]).permutation(len(nodes.names)))
    views = [_view(nodes, int(i)) for i in listing]
    cycle = Cycle(Snapshot(now=SIM_NOW, nodes=views, pending=[]), profile)
    placer = None
    if profile.place.policy is not None:
        placer = PolicyPlacer(
            profile.place.policy, cycle.cluster, lambda: None, rng=rng if ties == "random" else None
        )
        cycle.cluster.placer = placer
    meter_state = nodes.state()  # in file order, for the fragmentation meter
    index_of = {name: i for i, name in enumerate(nodes.names)}
    meter = FragModel(pods.workload(), meter_state)
    requests = [s.request() for s in pods.shapes]
    demands: list[Demand] = [demand_of(r) for r in requests]
    running = np.zeros(len(pods.shapes), dtype=np.float64)  # placed pods by shape
    order = arrivals(pods, nodes.gpu_capacity_milli, seed)
    n = len(order)
    arrived = np.cumsum(pods.gpu_milli[order])
    allocated = np.zeros(n, dtype=np.int64)
    frag = np.full(n, np.nan)
    near = np.abs(np.round(arrived * 100 / nodes.gpu_capacity_milli) - FRAG_POINT) <= 1
    used = placed = 0
    spent = 0.0
    where: list[str] = []
    for i, pod in enumerate(order):
        shape = int(pods.shape[pod])
        job = JobView(
            id=f"pod-{i}", replicas=1, request=requests[shape], priority=100, submitted_at=SIM_NOW
        )
        began = time.perf_counter()
        if placer is not None:
            running[shape] += 1  # the workload of a cycle with this pod pending
            present = np.flatnonzero(running)
            placer.set_workload(
                TaskMix([pods.shapes[k] for k in present], running[present].tolist())
            )
            running[shape] -= 1
        decision = cycle.offer(job)
        spent += time.perf_counter() - began
        if isinstance(decision, Bind):
            (spot,) = decision.placements
            meter_state.apply(Choice(index_of[spot.node], spot.node, spot.devices), demands[shape])
            running[shape] += 1
            used += demands[shape].gpu_milli
            placed += 1
            where.append(spot.node)
        else:
            where.append("")
        allocated[i] = used
        if near[i]:
            frag[i] = meter.total(meter_state)
    return Trace(arrived, allocated, frag, nodes.gpu_capacity_milli, placed, spent, where)


def _view(nodes: NodeList, i: int) -> NodeView:
    """An empty node of the list as the scheduler sees a live one (devices without a memory
    figure: the trace has none, and no pod asks for device memory)."""
    model = nodes.model[i]
    count = int(nodes.gpus[i]) if model else 0
    return NodeView(
        name=nodes.names[i],
        free_cpu_milli=int(nodes.cpu_milli[i]),
        free_memory_mib=int(nodes.memory_mib[i]),
        devices=[DeviceView(d, model, 0) for d in range(count)],
        total_cpu_milli=int(nodes.cpu_milli[i]),
        total_memory_mib=int(nodes.memory_mib[i]),
    )


def _mean_at(values: FloatArray, level: FloatArray, k: int) -> float | None:
    sel = level == k
    if not sel.any():
        sel = (level >= k - 1) & (level <= k + 1)
    picked = values[sel]
    picked = picked[~np.isnan(picked)]
    return float(picked.mean()) if len(picked) else None


def metrics(trace: Trace) -> dict[str, Any]:
    """`alloc_pct` at 80..130, `unallocated_pct_at_100` and `frag_ratio_pct_at_90` of one run."""
    cap = trace.capacity_milli
    level = np.round(trace.arrived * 100 / cap)  # numpy rounds half to even, as Python's round
    alloc = trace.allocated * 100 / cap
    idle = cap - trace.allocated
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(idle > 0, trace.frag * 100 / idle, np.nan)
    alloc_pct = {str(k): _mean_at(alloc, level, k) for k in ALLOC_POINTS}
    at100 = alloc_pct["100"]
    return {
        "alloc_pct": alloc_pct,
        "unallocated_pct_at_100": None if at100 is None else 100 - at100,
        "frag_ratio_pct_at_90": _mean_at(ratio, level, FRAG_POINT),
        "pods": len(trace.arrived),
        "placed": trace.placed,
        "decisions_per_s": len(trace.arrived) / trace.seconds if trace.seconds else None,
    }


def run_seed(
    nodes: NodeList, pods: PodList, policy: str, seed: int, ties: str = "random"
) -> dict[str, Any]:
    """One seed's metrics (a top-level function, so worker processes can run it)."""
    return {"seed": seed, **metrics(simulate(nodes, pods, policy, seed, ties=ties))}


def _average(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def summarize(policy: str, per_seed: list[dict[str, Any]], ties: str = "random") -> dict[str, Any]:
    """The issue's JSON: metrics averaged over seeds, and each seed's own."""
    per_seed = sorted(per_seed, key=lambda r: int(r["seed"]))
    return {
        "policy": policy,
        "ties": ties,
        "seeds": [r["seed"] for r in per_seed],
        "alloc_pct": {
            str(k): _average([r["alloc_pct"][str(k)] for r in per_seed]) for k in ALLOC_POINTS
        },
        "unallocated_pct_at_100": _average([r["unallocated_pct_at_100"] for r in per_seed]),
        "frag_ratio_pct_at_90": _average([r["frag_ratio_pct_at_90"] for r in per_seed]),
        "decisions_per_s": _average([r["decisions_per_s"] for r in per_seed]),
        "per_seed": per_seed,
    }


def run(
    nodes: NodeList,
    pods: PodList,
    policy: str,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    *,
    processes: int = 2,
    ties: str = "random",
    on_seed: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every seed (in `processes` worker processes) and summarize; `on_seed` is called as
    each seed finishes (for a progress bar)."""
    if policy in REGISTRY:
        get_policy(policy, workload=pods.workload())
    else:  # a scheduler profile; fails fast on an unknown name
        from aicc.scheduler.profiles import get_profile

        get_profile(policy)
    results: list[dict[str, Any]] = []
    if processes <= 1 or len(seeds) <= 1:
        for seed in seeds:
            results.append(run_seed(nodes, pods, policy, seed, ties))
            if on_seed:
                on_seed(results[-1])
    else:
        with ProcessPoolExecutor(max_workers=min(processes, len(seeds))) as pool:
            futures = [pool.submit(run_seed, nodes, pods, policy, s, ties) for s in seeds]
            for future in as_completed(futures):
                results.append(future.result())
                if on_seed:
                    on_seed(results[-1])
    return summarize(policy, results, ties)
