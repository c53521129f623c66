"""Where a listening job's replicas answer (`kind: service` or `notebook`): the scheduler gave
each a `PORT` on its node at bind, and the reconciler knows which of them run. The gateway
and the notebook proxy reach replicas only through this; they authorize the caller first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.store.tables import JobRow, ReplicaRow


@dataclass(frozen=True)
class Endpoint:
    """One replica's address: `url` is `http://HOST:PORT`, reachable from the server."""

    job_id: str
    attempt: int
    replica: int
    url: str
    running: bool


def of_job(session: Session, job_id: str) -> list[Endpoint]:
    """The endpoints of the job's current attempt, by replica index (none before it is bound,
    or for a job that does not listen)."""
    job = session.get(JobRow, job_id)
    if job is None:
        return []
    rows = session.scalars(
        select(ReplicaRow)
        .where(ReplicaRow.job_id == job_id, ReplicaRow.attempt == job.attempt)
        .order_by(ReplicaRow.index)
    )
    return [
        Endpoint(
            job_id=job_id,
            attempt=row.attempt,
            replica=row.index,
            url=f"http://{row.rendezvous['AICC_SERVICE_HOST']}:{row.rendezvous['PORT']}",
            running=row.state == "running",
        )
        for row in rows
        if "PORT" in (row.rendezvous or {})
    ]
