"""The state writers of deployments and their replica jobs, shared by the use cases
(`deployments.py`) and the control loop (`converge.py`): a deployment's state is written only by
`move` (core/states.py says who follows whom; a move to failed tells the deployment's
organization), a replica job is stopped only by `end_replica`; the replicas' endpoints,
which the gateway, the autoscaler and the loop read; and the replicas a deployment's minimum
keeps from preemption, which the scheduler's snapshot reads (`protected`)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from aicc.core.states import DeploymentState, deployment_transition
from aicc.services.common import utcnow
from aicc.services.jobs import endpoints, served
from aicc.services.notify import events
from aicc.services.tenancy import directory
from aicc.store.tables.serving import DeploymentReplicaRow, DeploymentRow

STATES = tuple(state.value for state in DeploymentState)  # core/states.py: who follows whom


def end_replica(session: Session, job_id: str, why: str) -> None:
    """Stop a replica job as a cancel does (jobs' `served.stop`): a waiting one at once, a
    placed one through the reconciler (TERM, grace, KILL)."""
    served.stop(session, job_id, why)


def move(row: DeploymentRow, to: DeploymentState) -> None:
    """The one writer of a deployment's state: a move core/states.py does not allow raises
    IllegalTransition (a bug here, never a user's error)."""
    was = row.state
    row.state = deployment_transition(DeploymentState(row.state), to).value
    session = object_session(row)
    if to is DeploymentState.FAILED and was != row.state and session is not None:
        _notify_down(session, row)


def _notify_down(session: Session, row: DeploymentRow) -> None:
    """`deployment.down`, once per move to failed (services/notify)."""
    project = directory.project(session, row.project_id)
    if project is None:
        return
    org_id = project.org_id
    events.emit(
        session,
        "deployment.down",
        org_id=org_id,
        project_id=row.project_id,
        subject="deployment {name} is down",
        body="Deployment {name} ({deployment_id}) failed: {message}.",
        params={
            "name": row.name,
            "deployment_id": row.id,
            "message": row.message or "its replicas failed",
        },
        data={"deployment_id": row.id, "deployment": row.name, "revision": row.revision},
        key=f"deployment.down:{row.id}:{utcnow().isoformat()}",
    )


def endpoints_of(session: Session, deployment_id: str) -> list[endpoints.Endpoint]:
    """The endpoints of a deployment's replica jobs (every revision, oldest job first): the
    gateway routes to those `ready`."""
    links = session.scalars(
        select(DeploymentReplicaRow)
        .where(DeploymentReplicaRow.deployment_id == deployment_id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    return [
        dataclasses.replace(endpoint, revision=link.revision)
        for link in links
        for endpoint in endpoints.of_job(session, link.job_id)
    ]


def protected(session: Session, running: set[str]) -> set[str]:
    """Of these running jobs, the replicas no preemption may take: each deployment's oldest
    `min_replicas` running replica jobs that it is not draining, so a deployment never drops
    below its minimum (the scheduler's snapshot asks, `jobs.snapshots.Protect`). One query:
    deployments' replicas are few, so all are read, not looked up by id."""
    links = session.execute(
        select(DeploymentReplicaRow.job_id, DeploymentRow.id, DeploymentRow.min_replicas)
        .join(DeploymentRow, DeploymentRow.id == DeploymentReplicaRow.deployment_id)
        .where(DeploymentReplicaRow.draining_at.is_(None), DeploymentRow.state != "stopped")
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    out: set[str] = set()
    kept: dict[str, int] = {}
    for job_id, deployment_id, minimum in links:
        if job_id in running and kept.get(deployment_id, 0) < minimum:
            kept[deployment_id] = kept.get(deployment_id, 0) + 1
            out.add(job_id)
    return out
