"""Retention: what finished jobs leave on disk is freed on a schedule, never their outputs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from aicc.core.states import TERMINAL
from aicc.executors.base import Executor
from aicc.store.db import Database
from aicc.store.tables import JobRow

log = logging.getLogger(__name__)

WORKDIR_GRACE = timedelta(minutes=5)  # time to look at a failed job's working copy
WINDOW = timedelta(days=2)  # each pass looks this far back, so a server down a day misses nothing


def ended_between(db: Database, start: datetime, end: datetime) -> list[str]:
    with db.reader() as session:
        query = select(JobRow.id).where(
            JobRow.state.in_([s.value for s in TERMINAL]),
            JobRow.ended_at >= start,
            JobRow.ended_at < end,
        )
        return list(session.scalars(query))


def sweep(
    db: Database, executors: dict[str, Executor], now: datetime, *, log_retention: timedelta
) -> int:
    """Purge working copies of jobs that ended a while ago, and logs past the retention period."""
    cleaned = 0
    for job_id in ended_between(db, now - WINDOW, now - WORKDIR_GRACE):
        for executor in executors.values():
            executor.purge(job_id, logs=False)
        cleaned += 1
    for job_id in ended_between(db, now - log_retention - WINDOW, now - log_retention):
        for executor in executors.values():
            executor.purge(job_id, logs=True)
        cleaned += 1
    return cleaned
