"""The one function that changes a job's state.

`change_state` is the only writer of `JobRow.state`: it asks `core.states.transition` whether the
move is legal and appends the event in the same transaction, so the event log is the job's history.
Its own module, below `jobs` and `nodes`, because submitting, cancelling, draining a node and the
control loops all move jobs.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from aicc.core.states import JobState, JobStatus, transition
from aicc.services.common import utcnow
from aicc.store.tables import EventRow, JobRow


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
    """Move a job to `to` and append the event; raises IllegalTransition for a forbidden move."""
    at = at or utcnow()
    status = JobStatus(JobState(job.state), job.reason, job.message, job.attempt)
    new, event = transition(status, to, reason=reason, message=message, at=at)
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
