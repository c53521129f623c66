"""The jobs' side of a federated job (services/federation routes and mirrors it): the job as the
router and the books read it, and the writers of its route (`jobs.federation`) beside its state.

`jobs.federation` is "?" (`WAITING_ROUTE`) while a `placement: federation` job waits to be
routed, which keeps it out of the scheduler's snapshot; NULL once routed here; the peer's site
name while it runs there. Federation sits above jobs, so it names none of the jobs' rows: it
reads `FederatedJob`s and moves a job by id through `move`, which calls `change_state`, the one
writer of a job's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.services.common import read
from aicc.services.jobs.transitions import change_state
from aicc.store.tables.jobs import JobRow

WAITING_ROUTE = "?"
AWAY = ("scheduled", "running")  # the states of a job running at a peer
_KEEP: Any = object()  # `move`: leave this column as it is


@dataclass(frozen=True)
class FederatedJob:
    """A job as federation reads it: what it asks, whose it is, where it runs."""

    id: str
    name: str
    org_id: str
    project_id: str
    user_id: str
    spec: dict[str, Any]
    datasets: list[Any]
    state: str
    attempt: int
    federation: str | None
    cancel_requested: bool


def _of(job: JobRow) -> FederatedJob:
    return read(
        FederatedJob,
        job,
        datasets=list(job.datasets or []),
        cancel_requested=bool(job.cancel_requested),
    )


def find(session: Session, job_id: str) -> FederatedJob | None:
    job = session.get(JobRow, job_id)
    return None if job is None else _of(job)


def waiting_route(session: Session) -> list[str]:
    """The pending jobs waiting to be routed, oldest first."""
    query = select(JobRow.id).where(
        JobRow.federation == WAITING_ROUTE, JobRow.state == JobState.PENDING.value
    )
    return list(session.scalars(query.order_by(JobRow.created_at)))


def at_sites(session: Session, sites: Iterable[str]) -> list[FederatedJob]:
    """The jobs running (or sent to run) at these peers."""
    query = select(JobRow).where(JobRow.federation.in_(list(sites)), JobRow.state.in_(AWAY))
    return [_of(job) for job in session.scalars(query)]


def away() -> Select[str, int, bool]:
    """(id, attempt, cancel_requested) of the jobs running at a peer, as a select federation
    joins its attempts to in one query."""
    return select(JobRow.id, JobRow.attempt, JobRow.cancel_requested).where(
        JobRow.federation.is_not(None),
        JobRow.federation != WAITING_ROUTE,
        JobRow.state.in_(AWAY),
    )


def move(
    session: Session,
    job_id: str,
    to: JobState,
    *,
    reason: str,
    message: str = "",
    at: datetime | None = None,
    data: dict[str, object] | None = None,
    federation: str | None = _KEEP,
    exit_code: int | None = _KEEP,
) -> None:
    """`change_state` of a federated job, with its route (`federation`) and the peer's exit
    code set in the same transaction where given."""
    job = session.get(JobRow, job_id)
    if job is None:
        return
    if exit_code is not _KEEP:
        job.exit_code = exit_code
    if federation is not _KEEP:
        job.federation = federation
    change_state(session, job, to, reason=reason, message=message, at=at, data=data)


def routed_here(session: Session, job_id: str, message: str) -> None:
    """The job stays here: the scheduler takes it as any job (its state does not move)."""
    job = session.get(JobRow, job_id)
    if job is not None:
        job.federation, job.message = None, message


def mean_runtime_s(session: Session, *, last: int) -> float | None:
    """The mean run time of the last `last` jobs that succeeded; None before any did."""
    query = (
        select(JobRow.started_at, JobRow.ended_at)
        .where(JobRow.state == "succeeded", JobRow.started_at.is_not(None))
        .order_by(JobRow.ended_at.desc())
        .limit(last)
    )
    spans = [(e - s).total_seconds() for s, e in session.execute(query) if s and e]
    return sum(spans) / len(spans) if spans else None


def waiting_specs(session: Session) -> list[dict[str, Any]]:
    """The stored specs of the jobs waiting here (pending, admitted): the demand an advert
    states."""
    query = select(JobRow.spec).where(JobRow.state.in_(("pending", "admitted")))
    return [spec for (spec,) in session.execute(query)]
