"""What jobs hands billing about replicas: billing sits below jobs and never reads a replica,
so jobs reads the facts its meter and budgets price (`ReplicaUse`, billing's read model) and
writes back how far the meter recorded (`metered_to`), which stays jobs' column.

`meter` is one compute pass of the meter in the caller's transaction: the records and the
replicas' new `metered_to` commit together or not at all, so a crash loses no usage and a
second pass records nothing twice (the records' keys are unique; services/billing/meter.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.jobspec import stored_int
from aicc.core.tenancy import Principal
from aicc.services.billing.meter import Meter
from aicc.services.billing.views import ReplicaUse
from aicc.services.common import from_row
from aicc.store.tables.jobs import JobRow, ReplicaRow


def _use(rep: ReplicaRow, org_id: str, project_id: str, spec: dict[str, Any]) -> ReplicaUse:
    return from_row(
        ReplicaUse,
        rep,
        org_id=org_id,
        project_id=project_id,
        devices=tuple((int(d["index"]), int(d["milli"])) for d in rep.devices),
        # as stored: a spec the scheduler would refuse never stops the books
        max_runtime_s=stored_int(spec, "max_runtime_s"),
    )


def _with_jobs() -> Any:
    return select(ReplicaRow, JobRow.org_id, JobRow.project_id, JobRow.spec).join(
        JobRow, JobRow.id == ReplicaRow.job_id
    )


def unmetered(session: Session, *, limit: int = 2000) -> list[ReplicaUse]:
    """Started replicas not yet recorded to their end (still running, or ended later than
    their `metered_to`): what a compute pass of the meter looks at."""
    query = _with_jobs().where(
        ReplicaRow.started_at.is_not(None),
        or_(
            ReplicaRow.metered_to.is_(None),
            ReplicaRow.ended_at.is_(None),
            ReplicaRow.metered_to < ReplicaRow.ended_at,
        ),
    )
    return [_use(*row) for row in session.execute(query.limit(limit))]


def running(session: Session, org_ids: set[str] | None = None) -> list[ReplicaUse]:
    """Replicas holding resources now (bound or running, not ended), of these organizations
    only when given: what budgets count as spent since `metered_to` and as committed."""
    query = _with_jobs().where(
        ReplicaRow.state.in_(("scheduled", "running")), ReplicaRow.ended_at.is_(None)
    )
    if org_ids is not None:
        query = query.where(JobRow.org_id.in_(org_ids))
    return [_use(*row) for row in session.execute(query)]


def running_for(session: Session, who: Principal) -> list[ReplicaUse]:
    """`running` of what the caller's budgets may count: every organization's for the
    center's admins, their own organization's for anyone else."""
    if who.is_admin:
        return running(session)
    return running(session, {who.org_id} if who.org_id else set())


def record_metered(session: Session, metered_to: Mapping[str, datetime]) -> None:
    """Write how far the meter recorded each replica (replica id -> time), in the caller's
    transaction, the one that holds the records."""
    if not metered_to:
        return
    for rep in session.scalars(select(ReplicaRow).where(ReplicaRow.id.in_(list(metered_to)))):
        rep.metered_to = metered_to[rep.id]


def meter(session: Session, books: Meter, observed_at: datetime, *, limit: int = 2000) -> int:
    """One compute pass: record the unmetered replicas' usage (`Meter.compute`) and write
    their `metered_to` in the same transaction. Returns the number of records written."""
    done = books.compute(unmetered(session, limit=limit), observed_at)
    record_metered(session, done.metered_to)
    return done.written


def due(session: Session, observed_at: datetime) -> bool:
    """Whether a compute pass would record anything (read-only, so idle passes take no write
    lock): a replica ended past its `metered_to`, or running past a closed hour not recorded."""
    closed = periods.hour_floor(observed_at)
    ended = select(ReplicaRow.id).where(
        ReplicaRow.started_at.is_not(None),
        ReplicaRow.ended_at.is_not(None),
        or_(ReplicaRow.metered_to.is_(None), ReplicaRow.metered_to < ReplicaRow.ended_at),
    )
    active = select(ReplicaRow.id).where(
        ReplicaRow.started_at.is_not(None),
        ReplicaRow.ended_at.is_(None),
        or_(
            ReplicaRow.metered_to < closed,
            (ReplicaRow.metered_to.is_(None)) & (ReplicaRow.started_at < closed),
        ),
    )
    return session.scalar(ended.limit(1)) is not None or session.scalar(active.limit(1)) is not None
