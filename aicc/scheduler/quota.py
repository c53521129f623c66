"""The quota tree (center -> organization -> project) and what each tenant uses.

Resources are the names of docs/contracts.md §4: `cpu_milli`, `memory_mib`, an accelerator model's
name in milli (1000 = one whole device), and `pflops` (the model's catalog PFLOPS times the share).

Rules, as Kueue's cohorts and Run:ai's over-quota have them:
- `max` is a hard ceiling at every level on the path; a missing key is no limit.
- Using more than `guaranteed` is *borrowing*: allowed while capacity is idle (the placement
  finds it free) and every ancestor's `max` holds; a job placed beyond its project's guarantee is
  marked borrowed and may be preempted when a project below its guarantee needs the space.
- A missing `guaranteed` key guarantees nothing, but only resources that some tenant guarantees
  are *governed*: using an ungoverned resource is never borrowing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import TypeVar

from aicc.core import accelerator_names, catalog
from aicc.scheduler.cluster import MILLI
from aicc.scheduler.snapshot import DevicePick, JobView, Placement, ReplicaRequest, TenantView

CPU = "cpu_milli"
MEMORY = "memory_mib"
PFLOPS = "pflops"
EPSILON = 1e-9

# Amounts per quota resource (cpu_milli, memory_mib, a model's milli, pflops): what a job charges
# its quota path. The one `Demand` is a replica's, placement.state.Demand.
Amounts = dict[str, float]
ModelOf = Callable[[str, int], str | None]  # (node name, device index) -> model
Ceiling = tuple[str, float]  # a resource and a tenant's max of it
K = TypeVar("K")


@lru_cache(maxsize=256)
def pflops_of(model: str) -> float:
    """Dense FP16/BF16 PFLOPS of one whole device of `model` (0 for a model not in the catalog)."""
    try:
        return accelerator_names.lookup(model).pflops
    except KeyError:
        return 0.0


@lru_cache(maxsize=64)
def mig_milli(profile: str) -> int:
    """A MIG slice's share of its device: `3g.40gb` is 3 of 7 compute slices."""
    return catalog.mig_milli(profile)


@lru_cache(maxsize=64)
def mig_memory_mib(profile: str) -> int:
    return int(profile.split("g.", 1)[1].removesuffix("gb")) * 1024


def replica_milli(request: ReplicaRequest) -> int:
    """Accelerator capacity of one replica in milli."""
    if request.mig_profile is not None:
        return mig_milli(request.mig_profile)
    if request.accel_milli is not None and request.accel_milli < MILLI:
        return request.accel_milli
    return request.accel_count * MILLI


def job_demand(job: JobView, model: str | None) -> Amounts:
    """What a job would use if placed on devices of `model` (None: a CPU-only job)."""
    r = job.request
    demand: Amounts = {
        CPU: float(r.cpu_milli * job.replicas),
        MEMORY: float(r.memory_mib * job.replicas),
    }
    milli = replica_milli(r) * job.replicas
    if model is not None and milli:
        demand[model] = float(milli)
        demand[PFLOPS] = milli / MILLI * pflops_of(model)
    return demand


def placed_demand(
    request: ReplicaRequest, placements: Iterable[Placement], model_of: ModelOf
) -> Amounts:
    """What placed replicas use, from the devices they hold."""
    return held_demand(request, ((p.node, p.devices) for p in placements), model_of)


def held_demand(
    request: ReplicaRequest,
    held: Iterable[tuple[K, Sequence[DevicePick]]],
    model_of: Callable[[K, int], str | None],
) -> Amounts:
    """`placed_demand` of replicas given as (where, devices), `where` being whatever `model_of`
    takes: a node's name, or its position in the cycle's cluster (a bind's spots)."""
    demand: Amounts = {CPU: 0.0, MEMORY: 0.0}
    milli: dict[str, float] = {}
    for where, picks in held:
        demand[CPU] += request.cpu_milli
        demand[MEMORY] += request.memory_mib
        for pick in picks:
            model = model_of(where, pick.index)
            if model is not None:
                milli[model] = milli.get(model, 0.0) + pick.milli
    for model, value in milli.items():
        demand[model] = value
        demand[PFLOPS] = demand.get(PFLOPS, 0.0) + value / MILLI * pflops_of(model)
    return demand


class QuotaTree:
    """The tenancy tree with each tenant's quota, and each tenant's current usage."""

    def __init__(self, tenants: Sequence[TenantView]) -> None:
        self.by_id: dict[str, TenantView] = {t.id: t for t in tenants}
        self.governed: frozenset[str] = frozenset(k for t in tenants for k in t.quota.guaranteed)
        self.used: dict[str, Amounts] = {t.id: {} for t in tenants}
        self._paths: dict[str, tuple[TenantView, ...]] = {}
        self._useds: dict[str, tuple[Amounts, ...]] = {}  # per project: `used` along its path
        # per project: (tenant, its usage, its ceilings) of each tenant on the path with a max
        self._limits: dict[str, tuple[tuple[TenantView, Amounts, tuple[Ceiling, ...]], ...]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.by_id)

    def path(self, project: str) -> tuple[TenantView, ...]:
        """The project, its organization, the center: the tenants whose quotas apply."""
        cached = self._paths.get(project)
        if cached is None:
            chain: list[TenantView] = []
            at = self.by_id.get(project)
            while at is not None and at not in chain:
                chain.append(at)
                at = self.by_id.get(at.parent) if at.parent is not None else None
            cached = self._paths[project] = tuple(chain)
        return cached

    def add(self, project: str, demand: Mapping[str, float], sign: int = 1) -> None:
        signed = demand.items() if sign == 1 else [(k, sign * v) for k, v in demand.items()]
        useds = self._useds.get(project)
        if useds is None:  # once per project: a cycle adds at every bind
            useds = self._useds[project] = tuple(self.used[t.id] for t in self.path(project))
        for used in useds:  # `1 * v` is `v`: the same sums as signing each
            for k, v in signed:
                used[k] = used.get(k, 0.0) + v

    def over_max(self, project: str, demand: Mapping[str, float]) -> str | None:
        """Why `demand` would break a ceiling on the project's path, or None."""
        limits = self._limits.get(project)
        if limits is None:  # once per project: admission asks for every job it considers
            limits = self._limits[project] = tuple(
                (tenant, self.used[tenant.id], tuple(tenant.quota.max.items()))
                for tenant in self.path(project)
                if tenant.quota.max
            )
        for tenant, used, ceilings in limits:
            for k, ceiling in ceilings:
                want = demand.get(k, 0.0)
                if want > 0 and used.get(k, 0.0) + want > ceiling + EPSILON:
                    return (
                        f"{tenant.id} would use {_fmt(used.get(k, 0.0) + want)} {k}; "
                        f"its max is {_fmt(ceiling)}"
                    )
        return None

    def borrows(self, project: str, demand: Mapping[str, float]) -> bool:
        """Would `demand` take the project beyond its guarantee of a governed resource?"""
        return self._beyond(project, demand, positive=True)

    def within_guarantee(self, project: str, demand: Mapping[str, float]) -> bool:
        """Does `demand` use a governed resource and stay within the project's guarantee?"""
        tenant = self.by_id.get(project)
        if tenant is None or not tenant.quota.guaranteed:
            return False
        touched = [k for k, v in demand.items() if v > 0 and k in self.governed]
        return bool(touched) and not self.borrows(project, demand)

    def over_guarantee(self, project: str, keys: Iterable[str]) -> bool:
        """Is the project using more than its guarantee of one of these governed resources?"""
        return self._beyond(project, dict.fromkeys(keys, 0.0))

    def _beyond(self, project: str, extra: Mapping[str, float], *, positive: bool = False) -> bool:
        """Would the project's use plus `extra` (only its positive amounts, if `positive`)
        exceed its guarantee of a governed resource?"""
        tenant = self.by_id.get(project)
        if tenant is None:
            return False
        used, guaranteed, governed = self.used[project], tenant.quota.guaranteed, self.governed
        for k, v in extra.items():
            if (positive and not v > 0) or k not in governed:
                continue
            if used.get(k, 0.0) + v > guaranteed.get(k, 0.0) + EPSILON:
                return True
        return False

    def protected(self, job: JobView, demand: Mapping[str, float]) -> bool:
        """A running job inside its project's guarantee: safe from other projects' priority."""
        if job.borrowed or job.project_id not in self.by_id:
            return False
        keys = [k for k, v in demand.items() if v > 0 and k in self.governed]
        return bool(keys) and not self.over_guarantee(job.project_id, keys)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.3f}"
