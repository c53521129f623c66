"""The jobs' side of a deployment's replica jobs (services/serving starts them as any job): how
they stand, read for a pass of the deployments' loop, and the one way serving stops one.

Serving sits above jobs, so it names none of the jobs' rows: it reads `Standing`s, one query
for a deployment's replicas, and stops a replica by id (`stop`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import WAITING, JobState, Reason
from aicc.services.common import utcnow
from aicc.services.jobs import endpoints
from aicc.services.jobs.transitions import change_state, hold, note
from aicc.store.tables.jobs import JobRow


@dataclass(frozen=True)
class Standing:
    """A replica job as the deployments' loop reads it."""

    id: str
    state: str
    attempt: int
    message: str
    cancel_requested: bool


def standing(session: Session, job_ids: Iterable[str]) -> dict[str, Standing]:
    """job id -> how it stands, for those of these jobs that exist (one query)."""
    ids = list(job_ids)
    if not ids:
        return {}
    query = select(
        JobRow.id, JobRow.state, JobRow.attempt, JobRow.message, JobRow.cancel_requested
    ).where(JobRow.id.in_(ids))
    return {
        job_id: Standing(job_id, state, attempt, message or "", bool(cancel))
        for job_id, state, attempt, message, cancel in session.execute(query)
    }


def stop(session: Session, job_id: str, why: str) -> None:
    """Stop a replica job as a cancel does: a waiting one at once, a placed one through the
    reconciler (TERM, grace, KILL); out of the gateway's routing either way. A job that ended,
    or was asked to stop already, is left as it is."""
    job = session.get(JobRow, job_id)
    if job is None:
        return
    hold(session, job)  # the scheduler may be binding it
    state = JobState(job.state)
    if state.is_terminal() or job.cancel_requested:
        return
    # why, in the job's history (its state's message ends as `cancelled`)
    note(session, job_id=job.id, kind="deployment", reason="deployment", message=why, at=utcnow())
    if state in WAITING:
        change_state(session, job, JobState.CANCELLED, reason=Reason.CANCELLED_BY_USER, message=why)
    else:
        job.cancel_requested, job.message = True, why
    endpoints.unready(session, job.id)
