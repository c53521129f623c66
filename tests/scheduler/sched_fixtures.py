"""Small builders for scheduler tests: nodes, jobs, running jobs, tenants, and decision lookups.

Every test passes time in through `Snapshot.now` (T0 plus an offset): nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aicc.core.tenancy import Quota
from aicc.scheduler.framework import Profile, schedule
from aicc.scheduler.profiles import PROFILES, build_profile
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    DevicePick,
    DeviceView,
    JobView,
    MigSlice,
    NodeView,
    Placement,
    Preempt,
    QueueView,
    ReplicaRequest,
    Reserve,
    Snapshot,
    TenantView,
    Usage,
    Wait,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
GIB = 1024
H100 = "H100-SXM"
A100 = "A100-80GB"


def at(*, minutes: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, hours=hours, seconds=seconds)


def node(
    name: str,
    *,
    gpus: int = 8,
    model: str = H100,
    cpu: int = 128_000,
    memory: int = 1024 * GIB,
    rack: str | None = None,
    pool: str | None = None,
    schedulable: bool = True,
    devices: list[DeviceView] | None = None,
) -> NodeView:
    labels = {}
    if pool is not None:
        labels["pool"] = pool
    if rack is not None:
        labels["rack"] = rack
    return NodeView(
        name=name,
        free_cpu_milli=cpu,
        free_memory_mib=memory,
        devices=devices
        if devices is not None
        else [DeviceView(i, model, 80 * GIB) for i in range(gpus)],
        labels=labels,
        schedulable=schedulable,
        total_cpu_milli=cpu,
        total_memory_mib=memory,
    )


def mig_device(
    index: int, profiles: Sequence[str], *, used: Sequence[int] = (), model: str = H100
) -> DeviceView:
    slices = tuple(MigSlice(k, p, k in used) for k, p in enumerate(profiles))
    return DeviceView(index, model, 80 * GIB, mig=slices)


def request(
    *,
    gpus: int = 0,
    milli: int | None = None,
    accel_memory: int | None = None,
    models: tuple[str, ...] | None = None,
    mig: str | None = None,
    cpu: int = 1000,
    memory: int = 1024,
) -> ReplicaRequest:
    count = 1 if milli is not None or mig is not None else gpus
    return ReplicaRequest(cpu, memory, count, milli, accel_memory, models, mig)


def job(
    job_id: str,
    *,
    gpus: int = 1,
    milli: int | None = None,
    accel_memory: int | None = None,
    models: tuple[str, ...] | None = None,
    mig: str | None = None,
    replicas: int = 1,
    cpu: int = 1000,
    memory: int = 1024,
    priority: int = 100,
    minute: float = 0,
    project: str = "prj-a",
    queue: str = "",
    runtime_s: int | None = None,
    preempted_by: tuple[str, ...] = (),
) -> JobView:
    return JobView(
        id=job_id,
        replicas=replicas,
        request=request(
            gpus=gpus,
            milli=milli,
            accel_memory=accel_memory,
            models=models,
            mig=mig,
            cpu=cpu,
            memory=memory,
        ),
        priority=priority,
        submitted_at=at(minutes=minute),
        project_id=project,
        queue=queue,
        max_runtime_s=runtime_s,
        preempted_by=preempted_by,
    )


def place(
    nodes: list[NodeView],
    pending: JobView,
    where: Sequence[tuple[str, Sequence[int]]],
    *,
    started: datetime | None = None,
    borrowed: bool = False,
    terminating: bool = False,
    checkpoint: datetime | None = None,
    milli: int | None = None,
) -> JobView:
    """A running job: `pending` placed on (node, device indices) per replica; the nodes' free
    capacity is reduced accordingly, as the caller of `schedule()` must do."""
    by_name = {n.name: n for n in nodes}
    placements = []
    r = pending.request
    share = milli if milli is not None else (r.accel_milli if r.accel_milli is not None else 1000)
    for replica, (name, indices) in enumerate(where):
        n = by_name[name]
        n.free_cpu_milli -= r.cpu_milli
        n.free_memory_mib -= r.memory_mib
        picks = []
        for index in indices:
            device = next(d for d in n.devices if d.index == index)
            device.free_milli -= share
            if r.accel_memory_mib is not None and device.free_memory_mib is not None:
                device.free_memory_mib -= r.accel_memory_mib
            picks.append(DevicePick(index, share, r.accel_memory_mib))
        placements.append(Placement(replica, name, tuple(picks)))
    return JobView(
        id=pending.id,
        replicas=pending.replicas,
        request=r,
        priority=pending.priority,
        submitted_at=pending.submitted_at,
        project_id=pending.project_id,
        queue=pending.queue,
        max_runtime_s=pending.max_runtime_s,
        started_at=started if started is not None else pending.submitted_at,
        placements=tuple(placements),
        borrowed=borrowed,
        last_checkpoint_at=checkpoint,
        terminating=terminating,
        preempted_by=pending.preempted_by,
    )


def tree(
    projects: dict[str, Quota],
    *,
    org: Quota | None = None,
    center: Quota | None = None,
    weights: dict[str, float] | None = None,
) -> tuple[TenantView, ...]:
    """center -> org -> the projects."""
    out = [
        TenantView("center", None, center or Quota()),
        TenantView("org", "center", org or Quota()),
    ]
    for name, quota in projects.items():
        out.append(TenantView(name, "org", quota, (weights or {}).get(name, 1.0)))
    return tuple(out)


def gpus(n: float, model: str = H100) -> dict[str, float]:
    return {model: n * 1000}


def snapshot(
    nodes: list[NodeView],
    pending: list[JobView],
    *,
    running: list[JobView] | None = None,
    now: datetime = T0,
    tenants: tuple[TenantView, ...] = (),
    queues: tuple[QueueView, ...] = (),
    usage: dict[str, Usage] | None = None,
) -> Snapshot:
    return Snapshot(
        now=now,
        nodes=nodes,
        pending=pending,
        running=running or [],
        tenants=tenants,
        queues=queues,
        usage=usage or {},
    )


def profile(base: str = "default", **changes: Any) -> Profile:
    """A built-in profile's configuration with some keys replaced."""
    config = dict(PROFILES[base])
    config.update(changes)
    return build_profile(config)


def run(snap: Snapshot, prof: Profile | str = "default") -> list[CycleDecision]:
    return schedule(snap, prof)


def by_job(decisions: list[CycleDecision]) -> dict[str, Bind | Wait]:
    return {d.job_id: d for d in decisions if isinstance(d, Bind | Wait)}


def bound(decisions: list[CycleDecision], job_id: str) -> Bind:
    found = by_job(decisions)[job_id]
    assert isinstance(found, Bind), found
    return found


def waiting(decisions: list[CycleDecision], job_id: str) -> Wait:
    found = by_job(decisions)[job_id]
    assert isinstance(found, Wait), found
    return found


def codes(decisions: list[CycleDecision], job_id: str) -> list[str]:
    return [r.code for r in waiting(decisions, job_id).reasons]


def preempts(decisions: list[CycleDecision]) -> list[Preempt]:
    return [d for d in decisions if isinstance(d, Preempt)]


def reserves(decisions: list[CycleDecision]) -> list[Reserve]:
    return [d for d in decisions if isinstance(d, Reserve)]


def nodes_of(decision: Bind) -> list[str]:
    return [p.node for p in decision.placements]
