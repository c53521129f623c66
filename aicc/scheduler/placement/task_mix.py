"""The task mix a fragmentation-aware policy expects: distinct request shapes and their weights.

FGD measures a node's fragmentation against "typical tasks": the distinct (cpu, memory, device
count, device share, device models) shapes of a workload, weighted by how often each occurs. The
simulator builds one from the original pod list of a trace (not the resampled arrivals); the live
server will build one from recent jobs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from aicc.scheduler.placement.demand import MILLI, Demand, demand_of
from aicc.scheduler.placement.state import FloatArray
from aicc.scheduler.snapshot import ReplicaRequest


@dataclass(frozen=True)
class TaskShape:
    """One request shape. `milli` is per device (1000 whole, less a share, 0 no device)."""

    cpu_milli: int
    memory_mib: int
    count: int
    milli: int
    models: tuple[str, ...] | None = None

    def sort_key(self) -> tuple[int, int, int, int, tuple[str, ...]]:
        return (self.cpu_milli, self.memory_mib, self.count, self.milli, self.models or ())

    @classmethod
    def of(cls, demand: Demand) -> TaskShape:
        return cls(demand.cpu, demand.mem, demand.count, demand.milli, demand.models)

    def request(self) -> ReplicaRequest:
        """The replica request of this shape."""
        share = self.milli if 0 < self.milli < MILLI else None
        return ReplicaRequest(
            cpu_milli=self.cpu_milli,
            memory_mib=self.memory_mib,
            accel_count=self.count,
            accel_milli=share,
            models=self.models,
        )


class TaskMix:
    """Shapes with weights that sum to 1, most popular first: the expected tasks FGD weighs a
    node's fragmentation against (the estimator's `estimate.workload.Workload` is another thing:
    one job's FLOPs and memory)."""

    def __init__(self, shapes: Sequence[TaskShape], counts: Sequence[float]) -> None:
        if len(shapes) != len(counts) or not shapes:
            raise ValueError("a task mix needs at least one shape, each with a count")
        total = float(sum(counts))
        if total <= 0 or min(counts) < 0:
            raise ValueError("counts must be non-negative and not all zero")
        order = sorted(range(len(shapes)), key=lambda i: (-counts[i], shapes[i].sort_key()))
        self.shapes: tuple[TaskShape, ...] = tuple(shapes[i] for i in order)
        self.counts: tuple[float, ...] = tuple(float(counts[i]) for i in order)
        self.weights: FloatArray = np.array(self.counts, dtype=np.float64) / total

    @classmethod
    def from_requests(cls, requests: Iterable[ReplicaRequest]) -> TaskMix:
        """Count the distinct shapes of a list of requests."""
        counter = Counter(TaskShape.of(demand_of(r)) for r in requests)
        return cls(list(counter), list(counter.values()))

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[ReplicaRequest, float]]) -> TaskMix:
        """The shapes of requests counted already (a request and how many tasks have it);
        requests of the same shape add up. Raises ValueError when nothing is counted."""
        total: dict[TaskShape, float] = {}
        for request, count in counts:
            shape = TaskShape.of(demand_of(request))
            total[shape] = total.get(shape, 0.0) + count
        return cls(list(total), list(total.values()))

    def top(self, share: float) -> TaskMix:
        """The most popular shapes that together cover `share` of the tasks, reweighted.

        (The FGD authors' simulator defaults to 0.95; the paper's text and our protocol use all.)
        """
        covered, kept = 0.0, 0
        while kept < len(self.shapes) and covered < share:
            covered += float(self.weights[kept])
            kept += 1
        return TaskMix(self.shapes[:kept], self.counts[:kept])

    def __len__(self) -> int:
        return len(self.shapes)

    def __repr__(self) -> str:
        return f"TaskMix({len(self.shapes)} shapes)"
