"""The one function that changes a job's state.

`change_state` is the only writer of `JobRow.state`: it asks `core.states.transition` whether the
move is legal and appends the event in the same transaction, so the event log is the job's history.
Its own module, below `jobs` and `nodes`, because submitting, cancelling, draining a node and the
control loops all move jobs. A job that stops waiting, or waits again, is counted (`waiting`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction

from aicc.core.states import WAITING, JobState, JobStatus, Reason, transition
from aicc.services.common import Conflict, utcnow
from aicc.services.jobs import waiting
from aicc.services.notify import events
from aicc.store.tables.base import table
from aicc.store.tables.jobs import EventRow, JobRow, ReplicaRow


def change_state(
    session: Session,
    job: JobRow,
    to: JobState,
    *,
    reason: str,
    message: str = "",
    at: datetime | None = None,
    data: dict[str, object] | None = None,
) -> None:
    """Move a job to `to` and append the event; raises IllegalTransition for a forbidden move,
    and Conflict where another transaction moved it in or out of waiting meanwhile."""
    at = at or utcnow()
    if job.state in _WAITING or to in WAITING:
        _hold(session, job, refresh=False)
    status = JobStatus(JobState(job.state), job.reason, job.message, job.attempt)
    new, event = transition(status, to, reason=reason, message=message, at=at)
    waiting.moved(session, job.user_id, job.queue_id, status.state, new.state)
    job.state, job.reason, job.message, job.attempt = (
        new.state.value,
        new.reason,
        new.message,
        new.attempt,
    )
    job.updated_at = at
    if to is JobState.RUNNING and job.started_at is None:
        job.started_at = at
    if to.is_terminal():
        job.ended_at = at
    session.add(
        EventRow(
            job_id=job.id,
            kind=event.kind,
            from_state=event.from_state.value,
            to_state=event.to_state.value,
            reason=event.reason,
            message=event.message,
            attempt=event.attempt,
            at=at,
            data=dict(data or {}),
        )
    )
    if to in (JobState.FAILED, JobState.SUCCEEDED):
        _notify(session, job, to)


def evict_node(session: Session, node_id: str, name: str, *, now: datetime, why: str) -> list[str]:
    """Stop the work running on a node and requeue it under its retry policy, as a preemption
    would (a drain with `evict`, a maintenance window's start). Returns the jobs evicted."""
    holding = select(ReplicaRow.job_id).where(
        ReplicaRow.node_id == node_id, ReplicaRow.state.in_(("scheduled", "running"))
    )
    evicted = []
    for job in session.scalars(select(JobRow).where(JobRow.id.in_(holding))):
        if job.state in ("scheduled", "running"):
            change_state(
                session,
                job,
                JobState.PREEMPTED,
                reason=Reason.PREEMPTED,
                message=why,
                at=now,
                data={"drained": name},
            )
            evicted.append(job.id)
    return evicted


def note(
    session: Session,
    *,
    job_id: str,
    kind: str,
    at: datetime,
    reason: str = "",
    message: str = "",
    from_state: str | None = None,
    to_state: str | None = None,
    attempt: int = 0,
    data: dict[str, Any] | None = None,
) -> None:
    """Append an event to the job's history that moves no state (a deployment stopping its
    replica, federation routing it): the writer of the jobs' event log for other contexts."""
    session.add(
        EventRow(
            job_id=job_id,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            message=message,
            attempt=attempt,
            data=data or {},
            at=at,
        )
    )


def _notify(session: Session, job: JobRow, to: JobState) -> None:
    """`job.failed` / `job.succeeded`, once per job and attempt (services/notify); none for a
    job labelled `aicc.io/notify: none` (a challenge's scoring job, whose submission's own
    notice tells its team: it would otherwise land in the center admin's inbox, who runs it)."""
    if (job.spec or {}).get("labels", {}).get(QUIET_LABEL) == "none":
        return
    said = "Job {name} ({job_id}) {state}: {reason}." + (" {message}" if job.message else "")
    events.emit(
        session,
        f"job.{to.value}",
        org_id=job.org_id,
        project_id=job.project_id,
        user_id=job.user_id,
        subject="job {name} {state}",
        body=said + "\n`aicc job logs {job_id}` shows its output.",
        params={
            "name": job.name,
            "job_id": job.id,
            "state": to.value,
            "reason": job.reason or "",
            "message": job.message or "",
        },
        data={"job_id": job.id, "attempt": job.attempt, "reason": job.reason},
        key=f"job.{to.value}:{job.id}:{job.attempt}",
    )


def hold(session: Session, job: JobRow) -> None:
    """Lock the job's row to the commit and read its state again, before deciding what to do
    with it: two transactions that both saw it waiting (the scheduler binding it, a user
    cancelling it) would otherwise both move it, the last write winning and the job counted
    out of waiting twice. PostgreSQL only: a SQLite write transaction holds the database."""
    _hold(session, job, refresh=True)


@event.listens_for(Session, "after_transaction_end")
def _released(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_HELD, None)


def _hold(session: Session, job: JobRow, *, refresh: bool) -> None:
    held: set[str] = session.info.setdefault(_HELD, set())
    if job.id in held or session.get_bind().dialect.name != "postgresql":
        return
    now = session.execute(_STATE, {"id": job.id}).scalar_one()
    held.add(job.id)
    if now == job.state:
        return
    if not refresh:
        raise Conflict("job {job} is {state} now; read it again", job=job.id, state=now)
    session.refresh(job)


QUIET_LABEL = "aicc.io/notify"  # "none": the job's end is told by its service, not as a job
_WAITING = frozenset(s.value for s in WAITING)
_HELD = "aicc.held_jobs"  # session.info: the jobs whose rows this transaction locked
_JOBS = table(JobRow)
_STATE = select(_JOBS.c.state).where(_JOBS.c.id == bindparam("id")).with_for_update()
