"""Build the scheduler's snapshot from the store: free capacity per node and the waiting jobs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.jobspec import JobSpec
from aicc.core.topology import NodeState
from aicc.scheduler.snapshot import DeviceView, JobView, NodeView, ReplicaRequest, Snapshot
from aicc.services import nodes
from aicc.store.tables import JobRow, NodeRow


def replica_request(spec: JobSpec) -> ReplicaRequest:
    accel = spec.resources.accelerator
    return ReplicaRequest(
        cpu_milli=spec.resources.cpu_milli,
        memory_mib=spec.resources.memory_mib,
        accel_count=accel.count,
        accel_milli=accel.milli,
        accel_memory_mib=accel.memory_mib,
        models=tuple(accel.models) if accel.models else None,
    )


def job_view(job: JobRow) -> JobView:
    spec = JobSpec.model_validate(job.spec)
    return JobView(
        id=job.id,
        replicas=spec.replicas,
        request=replica_request(spec),
        priority=job.priority,
        submitted_at=job.created_at,
        project_id=job.project_id,
    )


def node_views(session: Session, *, empty: bool = False) -> list[NodeView]:
    """Every node that is not down; `empty=True` ignores allocations (could it ever fit?)."""
    rows = [r for r in nodes.list_nodes(session) if r.state != NodeState.DOWN.value]
    devices = nodes.devices_of(session, [r.id for r in rows])
    used = {} if empty else nodes.allocations(session)
    views = []
    for row in rows:
        alloc = used.get(row.id, nodes.Allocation())
        views.append(
            NodeView(
                name=row.name,
                free_cpu_milli=row.cpu_milli - alloc.cpu_milli,
                free_memory_mib=row.memory_mib - alloc.memory_mib,
                devices=[
                    DeviceView(
                        d.index,
                        d.model,
                        d.memory_mib,
                        free_milli=1000 - alloc.device_milli.get(d.index, 0),
                        free_memory_mib=d.memory_mib - alloc.device_memory_mib.get(d.index, 0),
                    )
                    for d in devices.get(row.id, [])
                    if d.healthy
                ],
                labels=dict(row.labels),
                schedulable=empty or row.state == NodeState.READY.value,
                total_cpu_milli=row.cpu_milli,
                total_memory_mib=row.memory_mib,
            )
        )
    return views


def build(session: Session, now: datetime, *, states: tuple[str, ...] = ("admitted",)) -> Snapshot:
    waiting = session.scalars(
        select(JobRow).where(JobRow.state.in_(states)).order_by(JobRow.created_at)
    )
    return Snapshot(now=now, nodes=node_views(session), pending=[job_view(j) for j in waiting])


def node_ids(session: Session) -> dict[str, str]:
    return {name: id_ for id_, name in session.execute(select(NodeRow.id, NodeRow.name))}
