"""What the retention sweep (loops/janitor.py) reads and writes: the jobs that ended in a
window of time, and when the last sweep ran (a setting), so that however long the server was
down, the next sweep covers everything since and no job is skipped."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import TERMINAL
from aicc.store.tables import JobRow, SettingRow

LAST_SWEEP = "janitor.last_sweep"


def ended_between(session: Session, start: datetime, end: datetime) -> list[str]:
    """The ids of the jobs that ended in [start, end)."""
    query = select(JobRow.id).where(
        JobRow.state.in_([s.value for s in TERMINAL]),
        JobRow.ended_at >= start,
        JobRow.ended_at < end,
    )
    return list(session.scalars(query))


def last_sweep(session: Session) -> datetime:
    """When the last sweep ran; the epoch before the first."""
    row = session.get(SettingRow, LAST_SWEEP)
    return datetime.fromisoformat(row.value["at"]) if row else datetime.fromtimestamp(0, UTC)


def swept(session: Session, now: datetime) -> None:
    """A sweep covered everything up to `now`."""
    session.merge(SettingRow(key=LAST_SWEEP, value={"at": now.isoformat()}))
