"""Retention: what finished jobs leave on disk is freed on a schedule, never their outputs; and
data set chunks nothing refers to any more are deleted from the chunk store."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aicc.core.states import TERMINAL
from aicc.executors.base import Executor
from aicc.services.data import uploads
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
from aicc.store.tables import JobRow, SettingRow

log = logging.getLogger(__name__)

WORKDIR_GRACE = timedelta(minutes=5)  # time to look at a failed job's working copy
LAST_SWEEP = "janitor.last_sweep"


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
    """Purge working copies of jobs that ended a while ago, and logs past the retention period.

    Each pass covers everything since the previous one (kept in the store), so however long the
    server was down, no job is skipped.
    """
    with db.reader() as session:
        row = session.get(SettingRow, LAST_SWEEP)
        last = datetime.fromisoformat(row.value["at"]) if row else datetime.fromtimestamp(0, UTC)
    cleaned = 0
    for job_id in ended_between(db, last - WORKDIR_GRACE, now - WORKDIR_GRACE):
        for executor in executors.values():
            executor.purge(job_id, logs=False)
        cleaned += 1
    for job_id in ended_between(db, last - log_retention, now - log_retention):
        for executor in executors.values():
            executor.purge(job_id, logs=True)
        cleaned += 1
    with db.session() as session:
        session.merge(SettingRow(key=LAST_SWEEP, value={"at": now.isoformat()}))
    return cleaned


def collect(
    db: Database, chunks: ChunkStore, now: datetime, *, upload_expiry: timedelta = uploads.STALE
) -> int:
    """Drop the uploads left uncommitted for `upload_expiry` (hours: their chunks count against
    their project's quota meanwhile), forget the chunks no data set (nor a live upload) refers
    to, then delete the packs left with none, once that has committed: the index never names
    bytes that are gone, and a crash in between leaves only unreferenced bytes. Returns how
    many packs were deleted."""
    with db.session() as session:
        packs = uploads.collect(session, now=now, stale=upload_expiry)
    if packs:
        chunks.delete(packs)
        log.info("deleted %d data set packs nothing refers to", len(packs))
    return len(packs)
