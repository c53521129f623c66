"""`job.waiting`: a job pending longer than a channel's `wait_min`, told once per job, attempt
and threshold. Checked by the `notify` step now and then: jobs reads its jobs and their events,
and notify, below it, says which channels listen, whether a key was told, and writes the event
(services/notify/events.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, String, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from aicc.core.states import WAITING
from aicc.services.notify import events
from aicc.services.tenancy import tenancy
from aicc.store.tables.jobs import EventRow, JobRow

KIND = "job.waiting"
MAX_JOBS = 200  # per channel and check: the rest wait for the next check


def subscribed(session: Session) -> bool:
    """Whether any channel hears of waiting jobs (a read: most centers' checks stop here)."""
    return events.heard(session, KIND)


def check(session: Session, *, now: datetime) -> int:
    """Emit `job.waiting` for each job waiting past a subscribed channel's minutes; how many
    events were new."""
    written = 0
    for channel in events.listeners(session, KIND):
        cutoff = now - timedelta(minutes=channel.wait_min)
        for job in session.scalars(_untold(session, channel, cutoff)):
            since = _waiting_since(session, job)
            if since > cutoff:
                continue
            written += _emit(session, job, channel.wait_min, since)
    return written


def _untold(session: Session, channel: events.Listener, cutoff: datetime) -> Select[JobRow]:
    """The channel's jobs waiting since before `cutoff` that no `job.waiting` of its minutes
    named yet (its key, as `_emit` writes it), oldest first, MAX_JOBS at most."""
    key = (
        literal(f"{KIND}:")
        + JobRow.id
        + ":"
        + cast(JobRow.attempt, String)
        + f":{channel.wait_min}"
    )
    query = select(JobRow).where(
        JobRow.state.in_([s.value for s in WAITING]),
        JobRow.created_at <= cutoff,
        JobRow.org_id == channel.org_id,
        ~events.told(key),
    )
    if channel.project_id is not None:
        query = query.where(JobRow.project_id == channel.project_id)
    else:
        member = tenancy.project_ids_of(session, channel.user_id) if channel.user_id else []
        query = query.where(or_(JobRow.project_id.in_(member), JobRow.user_id == channel.user_id))
    return query.order_by(JobRow.created_at).limit(MAX_JOBS)


def _waiting_since(session: Session, job: JobRow) -> datetime:
    """When the job last began to wait: its last move to pending, else its submit."""
    last = session.scalar(
        select(func.max(EventRow.at)).where(
            EventRow.job_id == job.id, EventRow.to_state == "pending"
        )
    )
    return last or job.created_at


def _emit(session: Session, job: JobRow, after_min: int, since: datetime) -> int:
    key = f"{KIND}:{job.id}:{job.attempt}:{after_min}"
    made = events.emit(
        session,
        KIND,
        org_id=job.org_id,
        project_id=job.project_id,
        user_id=job.user_id,
        subject="job {name} has waited over {after_min} min",
        body="Job {name} ({job_id}) is {state} since {since}: {message}. "
        "`aicc job explain {job_id}` says why.",
        params={
            "name": job.name,
            "job_id": job.id,
            "after_min": after_min,
            "state": job.state,
            "since": since.isoformat(),
            "message": job.message or job.reason or "",
        },
        data={"job_id": job.id, "after_min": after_min, "attempt": job.attempt},
        key=key,
    )
    return 1 if made else 0
