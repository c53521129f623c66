"""Small generated clusters, pod lists shaped like openb, and job traces shaped like Philly, for
tests that must run in seconds.

The defaults (60 nodes, 300 pods) ask for about 90% of the devices, as the openb trace asks for
98% of its cluster. The mix follows the trace's proportions: some 8-device nodes and many 2-device
nodes of two models; pods that are CPU-only (~13%), fractional shares (~38%), one whole device
(~45%) and a few multi-device ones, some restricted to one model.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np

from aicc.scheduler.placement import TaskShape, demand_of
from aicc.sim.jobs import TraceJob
from aicc.sim.openb import NodeList, PodList

NODE_TYPES = (  # (model, devices, cpu milli, memory MiB, share of nodes)
    ("G2", 8, 96_000, 393_216, 0.45),
    ("T4", 2, 104_000, 524_288, 0.35),
    ("P100", 2, 16_000, 122_880, 0.20),
)
SHARES = (810, 470, 320, 650, 230, 160)


def nodes(count: int = 60, seed: int = 0) -> NodeList:
    """`count` empty nodes of the types above (at least one of each when count >= 3)."""
    rng = np.random.default_rng(seed)
    weights = np.array([t[4] for t in NODE_TYPES])
    kinds = rng.choice(len(NODE_TYPES), size=count, p=weights / weights.sum())
    kinds[: min(count, len(NODE_TYPES))] = np.arange(min(count, len(NODE_TYPES)))
    chosen = [NODE_TYPES[int(k)] for k in kinds]
    return NodeList(
        names=[f"syn-node-{i:04d}" for i in range(count)],
        cpu_milli=np.array([t[2] for t in chosen], dtype=np.int64),
        memory_mib=np.array([t[3] for t in chosen], dtype=np.int64),
        gpus=np.array([t[1] for t in chosen], dtype=np.int64),
        model=[t[0] for t in chosen],
    )


def pods(count: int = 300, seed: int = 0) -> PodList:
    """`count` pods whose shapes repeat (a trace has few distinct shapes)."""
    rng = np.random.default_rng(seed)
    index: dict[TaskShape, int] = {}
    shape = []
    for _ in range(count):
        kind = rng.random()
        cpu = int(rng.choice([2_000, 4_000, 8_000, 12_000]))
        mem = int(rng.choice([8_192, 16_384, 49_152]))
        models: tuple[str, ...] | None = None
        if kind < 0.13:
            gpus, milli = 0, 0
        elif kind < 0.51:
            gpus, milli = 1, int(rng.choice(SHARES))
        elif kind < 0.96:
            gpus, milli = 1, 1000
        else:
            gpus, milli = int(rng.choice([2, 4, 8])), 1000
            cpu *= gpus
        if gpus and rng.random() < 0.1:
            models = ("G2",) if rng.random() < 0.5 else ("T4", "P100")
        key = TaskShape.of(demand_of(TaskShape(cpu, mem, gpus, milli, models).request()))
        shape.append(index.setdefault(key, len(index)))
    return PodList(
        names=[f"syn-pod-{i:05d}" for i in range(count)],
        shape=np.array(shape, dtype=np.int64),
        shapes=list(index),
    )


def trace_jobs(
    count: int = 300, *, gpus: int = 32, load: float = 0.9, tenants: int = 4, seed: int = 0
) -> list[TraceJob]:
    """A Philly-shaped job trace for `gpus` GPUs at about `load` offered load: Poisson arrivals,
    heavy-tailed run times (lognormal, median 10 minutes), mostly 1-GPU jobs and a few gangs,
    tenants of unequal sizes."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 4, 8, 16], size=count, p=[0.80, 0.08, 0.06, 0.04, 0.02])
    durations = np.maximum(1.0, rng.lognormal(np.log(600.0), 1.6, size=count))
    mean_work = float((sizes * durations).mean())
    gaps = rng.exponential(mean_work / (gpus * load), size=count)
    weights = np.arange(tenants, 0, -1, dtype=float)
    owners = rng.choice(tenants, size=count, p=weights / weights.sum())
    start = datetime(2017, 10, 1)
    arrivals = np.cumsum(gaps)
    return [
        TraceJob(
            f"j{i}",
            start + timedelta(seconds=float(arrivals[i])),
            float(round(durations[i])),
            int(sizes[i]),
            f"vc{int(owners[i])}",
        )
        for i in range(count)
    ]
