"""The scheduling loop: admit waiting jobs, ask the scheduler where they go, record the binds.

Level-triggered: each cycle reads the whole desired state from the store, so a missed wake-up or
a restart costs at most one cycle. Binds happen only under the fenced lease (one scheduler per
database).
"""

from __future__ import annotations

import socket
from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.states import JobState, Reason
from aicc.loops.lease import Lease
from aicc.scheduler.fifo import schedule
from aicc.scheduler.snapshot import Bind, Placement
from aicc.services import snapshots
from aicc.services.common import new_id
from aicc.services.jobs import change_state
from aicc.store.db import Database
from aicc.store.tables import JobRow, NodeRow, QueueRow, ReplicaRow

PLACED = (JobState.ADMITTED.value, JobState.SCHEDULED.value, JobState.RUNNING.value)


def admit(session: Session, now: datetime) -> int:
    """Admission: a queue's `max_running` caps how many of its jobs may be placed at once.

    Quotas and budgets join here when the scheduler and billing land (issues 3 and 5).
    """
    waiting = list(
        session.scalars(
            select(JobRow)
            .where(JobRow.state == JobState.PENDING.value)
            .order_by(JobRow.priority.desc(), JobRow.created_at)
        )
    )
    if not waiting:
        return 0
    placed = Counter(
        dict(
            session.execute(
                select(JobRow.queue_id, func.count())
                .where(JobRow.state.in_(PLACED))
                .group_by(JobRow.queue_id)
            ).all()
        )
    )
    queues = {
        q.id: q
        for q in session.scalars(
            select(QueueRow).where(QueueRow.id.in_({j.queue_id for j in waiting}))
        )
    }
    admitted = 0
    for job in waiting:
        queue = queues[job.queue_id]
        if queue.max_running is not None and placed[queue.id] >= queue.max_running:
            message = f"queue {queue.name} runs at most {queue.max_running} jobs at once"
            if job.message != message:  # write once, not on every pass
                job.message = message
            continue
        placed[queue.id] += 1
        change_state(
            session,
            job,
            JobState.ADMITTED,
            reason=Reason.ADMITTED,
            message="waiting for resources",
            at=now,
        )
        admitted += 1
    return admitted


def free_port() -> int:
    """A port the rendezvous of a gang can use (MASTER_PORT), fresh for every job."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rendezvous(bind: Bind, nodes: dict[str, NodeRow]) -> list[dict[str, object]]:
    """torchrun's variables for each replica of a gang."""
    first = nodes[bind.placements[0].node]
    addr = "127.0.0.1" if first.executor == "local" else (first.address or first.name)
    port = free_port()
    node_order: dict[str, int] = {}
    local: dict[str, int] = defaultdict(int)
    out = []
    for placement in bind.placements:
        node_rank = node_order.setdefault(placement.node, len(node_order))
        out.append(
            {
                "WORLD_SIZE": len(bind.placements),
                "RANK": placement.replica,
                "LOCAL_RANK": local[placement.node],
                "NODE_RANK": node_rank,
                "MASTER_ADDR": addr,
                "MASTER_PORT": port,
            }
        )
        local[placement.node] += 1
    return out


def record_bind(session: Session, bind: Bind, now: datetime) -> None:
    job = session.get(JobRow, bind.job_id)
    if job is None or job.state != JobState.ADMITTED.value:
        return  # cancelled meanwhile
    spec = job.spec["resources"]
    names = {p.node for p in bind.placements}
    nodes = {n.name: n for n in session.scalars(select(NodeRow).where(NodeRow.name.in_(names)))}
    for placement, env in zip(bind.placements, rendezvous(bind, nodes), strict=True):
        session.add(_replica(job, placement, nodes[placement.node], spec, env, now))
    where = ", ".join(sorted(names))
    change_state(
        session, job, JobState.SCHEDULED, reason=Reason.BOUND, message=f"bound to {where}", at=now
    )


def _replica(
    job: JobRow,
    placement: Placement,
    node: NodeRow,
    spec: dict[str, object],
    env: dict[str, object],
    now: datetime,
) -> ReplicaRow:
    return ReplicaRow(
        id=new_id("rep"),
        job_id=job.id,
        attempt=job.attempt,
        index=placement.replica,
        node_id=node.id,
        devices=[
            {"index": d.index, "milli": d.milli, "memory_mib": d.memory_mib}
            for d in placement.devices
        ],
        cpu_milli=spec["cpu_milli"],
        memory_mib=spec["memory_mib"],
        state="scheduled",
        bound_at=now,
        rendezvous=env,
    )


def cycle(db: Database, lease: Lease, now: datetime) -> int:
    """One admission + scheduling pass in one fenced transaction. Returns the jobs bound."""
    with db.reader() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.state.in_(("pending", "admitted")))
        )
    if not waiting:
        return 0  # nothing to do: take no write lock
    with db.session() as session:
        lease.fence(session, now)  # first write of the transaction: serialises rival schedulers
        admit(session, now)
        session.flush()
        snapshot = snapshots.build(session, now)
        if not snapshot.pending:
            return 0
        binds = [d for d in schedule(snapshot) if isinstance(d, Bind)]
        for bind in binds:
            record_bind(session, bind, now)
        return len(binds)
