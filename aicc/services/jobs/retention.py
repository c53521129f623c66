"""What the retention sweep (loops/janitor.py) reads of jobs: those that ended in a window of
time. When the last sweep ran is the center's setting (`center.sweeps`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import TERMINAL
from aicc.store.tables.jobs import JobRow


def ended_between(session: Session, start: datetime, end: datetime) -> list[str]:
    """The ids of the jobs that ended in [start, end)."""
    query = select(JobRow.id).where(
        JobRow.state.in_([s.value for s in TERMINAL]),
        JobRow.ended_at >= start,
        JobRow.ended_at < end,
    )
    return list(session.scalars(query))
