"""Retention: what finished jobs leave on disk is freed on a schedule, never their outputs; and
data set chunks nothing refers to any more are deleted from the chunk store. What it reads and
writes in the store is services/jobs/retention.py's, services/center/sweeps.py's and
services/data/uploads.py's; the loop asks the executors to purge."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aicc.executors.base import Executor
from aicc.loops.registry import Context, Declared
from aicc.loops.steps import Every, Pass, Periodic
from aicc.services.center import sweeps
from aicc.services.common import utcnow
from aicc.services.data import uploads
from aicc.services.jobs import retention
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database

log = logging.getLogger(__name__)

WORKDIR_GRACE = timedelta(minutes=5)  # time to look at a failed job's working copy


def ended_between(db: Database, start: datetime, end: datetime) -> list[str]:
    with db.reader() as session:
        return retention.ended_between(session, start, end)


def sweep(
    db: Database, executors: dict[str, Executor], now: datetime, *, log_retention: timedelta
) -> int:
    """Purge working copies of jobs that ended a while ago, and logs past the retention period.

    Each pass covers everything since the previous one (kept in the store), so however long the
    server was down, no job is skipped.
    """
    with db.reader() as session:
        last = sweeps.last_sweep(session)
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
        sweeps.swept(session, now)
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


class Sweep(Periodic):
    """The jobs' (and data sets') retention step: `sweep`, then with a chunk store `collect`,
    every `every`; first at the first pass."""

    name = "sweep"

    def __init__(
        self,
        *,
        every: timedelta,
        log_retention: timedelta,
        chunks: ChunkStore | None = None,
        upload_expiry: timedelta = uploads.STALE,
    ) -> None:
        self.when = Every(every, first=utcnow())
        self.log_retention = log_retention
        self.chunks = chunks
        self.upload_expiry = upload_expiry

    def run(self, pass_: Pass) -> None:
        sweep(pass_.db, pass_.executors, pass_.now(), log_retention=self.log_retention)
        if self.chunks is not None:
            collect(pass_.db, self.chunks, pass_.now(), upload_expiry=self.upload_expiry)
        self.when.ran()


def _sweep(context: Context) -> Sweep:
    """Retention as the server's limits say, and the chunk store collected where there is one."""
    return Sweep(
        every=context.sweep_every,
        log_retention=context.log_retention,
        chunks=context.chunks,
        upload_expiry=context.upload_expiry,
    )


STEP = Declared(order=150, build=_sweep)
