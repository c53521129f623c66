"""How a lease's capacity is used now: the lessee's jobs running on it, others' work it lends
room to, what lies idle, and the lessee's jobs waiting. Leases (below jobs) make and show the
leases; the replicas and jobs on them are jobs' to read, so the callers that show a lease (the
API, the portal) pass it through `shown`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import WAITING
from aicc.services.jobs.census import HOLDING
from aicc.services.leases.views import Lease, LeaseJob, LeaseUse
from aicc.services.nodes import census as node_census
from aicc.store.tables.jobs import JobRow, ReplicaRow

SHOWN_JOBS = 20


def shown(session: Session, leases: Iterable[Lease]) -> list[Lease]:
    """The leases, each active one with how its capacity is used now and the lessee's jobs
    running there and waiting."""
    return [show(session, lease) for lease in leases]


def show(session: Session, lease: Lease) -> Lease:
    """The lease with its use, when it is active (else as it is)."""
    if lease.state != "active":
        return lease
    use, running = _use(session, lease)
    waiting = _waiting(session, lease.org_id)
    return lease.model_copy(update={"use": use, "running": running, "waiting": waiting})


def _use(session: Session, lease: Lease) -> tuple[LeaseUse, list[LeaseJob]]:
    """How the leased devices are used now (by the lessee, lent, idle) and the lessee's jobs
    running there."""
    names = set(lease.nodes) | {d.node for d in lease.devices}
    ids = {i: n for n, i in node_census.ids_by_name(session, names).items()}
    slots: set[tuple[str, int]] = {(d.node, d.index) for d in lease.devices}
    if lease.nodes:
        slots |= {(d.node, d.index) for d in node_census.devices(session, names=lease.nodes)}
        with_devices = {n for n, _ in slots}
        slots |= {(n, -1) for n in lease.nodes if n not in with_devices}  # a CPU node: one slot
    mine: set[tuple[str, int]] = set()
    lent: set[tuple[str, int]] = set()
    jobs: dict[str, LeaseJob] = {}
    query = (
        select(
            ReplicaRow.node_id,
            ReplicaRow.devices,
            JobRow.id,
            JobRow.name,
            JobRow.state,
            JobRow.org_id,
        )
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(ReplicaRow.node_id.in_(list(ids)), ReplicaRow.state.in_(HOLDING))
    )
    for node_id, picks, job_id, name, state, org_id in session.execute(query):
        node = ids[node_id]
        used = {(node, int(p["index"])) for p in picks} or {(node, -1)}
        used &= slots
        if not used:
            continue
        if org_id == lease.org_id:
            mine |= used
            jobs[job_id] = LeaseJob(id=job_id, name=name, state=state)
        else:
            lent |= used - mine
    lent -= mine
    use = LeaseUse(in_use=len(mine), lent=len(lent), idle=len(slots - mine - lent))
    return use, list(jobs.values())[:SHOWN_JOBS]


def _waiting(session: Session, org_id: str) -> list[LeaseJob]:
    query = (
        select(JobRow.id, JobRow.name, JobRow.state)
        .where(JobRow.org_id == org_id, JobRow.state.in_([s.value for s in WAITING]))
        .order_by(JobRow.created_at)
        .limit(SHOWN_JOBS)
    )
    return [LeaseJob(id=i, name=n, state=s) for i, n, s in session.execute(query)]
