"""Where a listening job's replicas answer (`kind: service` or `notebook`): the scheduler gave
each a `PORT` on its node at bind, and the reconciler knows which of them run. The gateway
and the notebook proxy reach replicas only through this; they authorize the caller first."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.store.tables import DeploymentReplicaRow, JobRow, ReplicaRow


@dataclass(frozen=True)
class Endpoint:
    """One replica's address: `url` is `http://HOST:PORT`, reachable from the server."""

    job_id: str
    attempt: int
    replica: int
    url: str
    running: bool
    ready: bool  # its readiness check passed, and it has not failed one since
    revision: int | None = None  # a deployment's replica: the revision it serves


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
            ready=row.state == "running" and row.ready_at is not None,
        )
        for row in rows
        if "PORT" in (row.rendezvous or {})
    ]


def of_deployment(session: Session, deployment_id: str) -> list[Endpoint]:
    """The endpoints of a deployment's replica jobs (every revision, oldest job first): the
    gateway routes to those `ready`."""
    links = session.scalars(
        select(DeploymentReplicaRow)
        .where(DeploymentReplicaRow.deployment_id == deployment_id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    return [
        replace(endpoint, revision=link.revision)
        for link in links
        for endpoint in of_job(session, link.job_id)
    ]
