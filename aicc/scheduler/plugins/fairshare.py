"""Weighted fair share by dominant resource (DRF) with decayed usage, like Slurm's fair-share
factor `F = 2^(-U/S)`.

- `U`, a project's usage, is its dominant share: the largest, over resources (CPU, memory, each
  accelerator model), of a mix of what it holds now and its decayed history, each as a share of
  the cluster's capacity. The history is resource-seconds that halve every `half_life_s`; the
  caller keeps it per project between cycles (`accrue`) and passes it in `Snapshot.usage`.
- `S`, its normalized share, is its weight over the weights of the projects that are active
  (have jobs waiting or running).

`F` is 1 for a project that used nothing and halves each time its usage reaches its share more.
Inside a cycle a project's `U` grows with every job bound, so projects interleave.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aicc.scheduler.plugins.base import Cycle
from aicc.scheduler.quota import Amounts, ModelOf, placed_demand
from aicc.scheduler.snapshot import JobView, NodeView, Usage

WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class FairShare:
    half_life_s: float = WEEK_S
    history_weight: float = 0.5  # 0: only what runs now; 1: only the decayed history
    name: str = "fairshare"

    def share(self, project: str, cycle: Cycle) -> float:
        state = cycle.scratch(FairState, lambda: self.prepare(cycle))
        capacity = state.capacity
        now_used = cycle.alloc.get(project, {})
        past = state.history.get(project, {})
        dominant = 0.0
        beta = self.history_weight
        now_weight = 1 - beta
        for key, total in capacity.items():
            value = (now_weight * now_used.get(key, 0.0) + beta * past.get(key, 0.0)) / total
            if value > dominant:  # max(dominant, value), without the call
                dominant = value
        normalized = state.normalized.get(project, 0.0)
        if normalized <= 0:
            return 0.0 if dominant > 0 else 1.0
        return float(2.0 ** (-dominant / normalized))

    def prepare(self, cycle: Cycle) -> FairState:
        """This cycle's capacities, decayed histories and normalized shares (once a cycle)."""
        snapshot = cycle.snapshot
        active = {j.project_id for j in snapshot.pending} | {j.project_id for j in snapshot.running}
        return prepare(
            now=cycle.now,
            nodes=snapshot.nodes,
            usage=snapshot.usage,
            weights={t.id: t.weight for t in snapshot.tenants},
            active=active,
            half_life_s=self.half_life_s,
        )


@dataclass
class FairState:
    """Per cycle: capacity per resource, each project's decayed history in average amounts
    (resource-seconds over the decay's time constant), and its normalized share `S`."""

    capacity: dict[str, float]
    history: dict[str, dict[str, float]]
    normalized: dict[str, float]


def prepare(
    *,
    now: datetime,
    nodes: Iterable[NodeView],
    usage: Mapping[str, Usage],
    weights: Mapping[str, float],
    active: Iterable[str],
    half_life_s: float,
) -> FairState:
    capacity: dict[str, float] = {}
    for node in nodes:
        capacity["cpu_milli"] = capacity.get("cpu_milli", 0.0) + (
            node.total_cpu_milli or node.free_cpu_milli
        )
        capacity["memory_mib"] = capacity.get("memory_mib", 0.0) + (
            node.total_memory_mib or node.free_memory_mib
        )
        for device in node.devices:
            capacity[device.model] = capacity.get(device.model, 0.0) + 1000.0
    capacity = {k: v for k, v in capacity.items() if v > 0}
    tau = half_life_s / math.log(2)  # resource-seconds of a constant allocation, per unit held
    history: dict[str, dict[str, float]] = {}
    for project, record in usage.items():
        decay = 2.0 ** (-max(0.0, (now - record.at).total_seconds()) / half_life_s)
        history[project] = {k: v * decay / tau for k, v in record.values.items()}
    projects = sorted(set(active))
    total = sum(max(0.0, weights.get(p, 1.0)) for p in projects)
    normalized = {p: max(0.0, weights.get(p, 1.0)) / total if total else 0.0 for p in projects}
    return FairState(capacity, history, normalized)


def allocations(running: Iterable[JobView], model_of: ModelOf) -> dict[str, Amounts]:
    """What each project holds now, per resource (the rate `accrue` integrates)."""
    out: dict[str, Amounts] = {}
    for job in running:
        held = out.setdefault(job.project_id, {})
        for key, value in placed_demand(job.request, job.placements, model_of).items():
            held[key] = held.get(key, 0.0) + value
    return out


def accrue(
    usage: Mapping[str, Usage],
    *,
    now: datetime,
    allocations: Mapping[str, Mapping[str, float]],
    half_life_s: float = WEEK_S,
) -> dict[str, Usage]:
    """Usage at `now`, given what each project held constantly since its record's time.

    Exact for a constant allocation over the interval: `U' = U d + a tau (1 - d)` with
    `d = 2^(-dt/half_life)` and `tau = half_life / ln 2`. The simulator calls it at every event,
    the live server every cycle, each keeping the result for the next call.
    """
    tau = half_life_s / math.log(2)
    out: dict[str, Usage] = {}
    for project in sorted(set(usage) | set(allocations)):
        record = usage.get(project)
        held = allocations.get(project, {})
        if record is None:
            out[project] = Usage(at=now, values={})
            continue
        dt = max(0.0, (now - record.at).total_seconds())
        d = 2.0 ** (-dt / half_life_s)
        keys = set(record.values) | set(held)
        out[project] = Usage(
            at=now,
            values={
                k: record.values.get(k, 0.0) * d + held.get(k, 0.0) * tau * (1 - d) for k in keys
            },
        )
    return out


def fairshare(args: Mapping[str, Any]) -> FairShare:
    return FairShare(
        half_life_s=float(args.get("half_life_s", WEEK_S)),
        history_weight=float(args.get("history_weight", 0.5)),
    )
