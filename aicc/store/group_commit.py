"""Group commit: many small writes from many requests, one transaction per batch.

A write costs its transaction more than its rows: SQLite's write lock taken and given back,
PostgreSQL's BEGIN and COMMIT round trips and its WAL flush. A thread of its own takes whatever
arrived while it committed the last batch and commits it as one, so under load a batch holds
many writes, and a lone write waits for nothing (BENCHMARKS.md, the submit path's sixth pass).
Requests await an `asyncio` future each; the thread settles a batch's futures on their event
loops, one callback per loop (`call_soon_threadsafe`): a write costs its loop an append and a
wake-up, not a worker thread's turn.

`GroupCommit` is the machinery; a subclass says how a batch is written (`commit`).
`Transactions` runs callables that each take a session (`jobs.submit`), with the answer each
would have had alone: a batch in which one raises is rolled back and its callables run again,
each in a transaction of its own, so only the one that raised fails, and only to its caller.

In a batch's transaction the callables also share what each would do alike (`Batch`): a read
that none of them changes is made once (`shared`: a submit's project, queue and waiting counts),
and the rows they insert are written together as one statement per table (`write`) after the
last callable, before the commit. A callable alone, or any session outside a batch, reads and
writes at once, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Executable
from sqlalchemy.orm import Session

from aicc.store.db import Database

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
T = TypeVar("T")


class GroupCommit(Generic[Item, Result]):
    """Queue items; a thread commits whatever is queued as one batch (`commit`) and settles each
    item's future with its result or its exception. Each item is in exactly one batch. The
    thread ends after `IDLE_S` with nothing queued, and at `close`, which commits what is queued
    first; the next item starts it again."""

    IDLE_S = 60.0
    MAX_BATCH = 256  # a batch holds SQLite's write lock while it runs: bound it
    STREAM_S = 0.010  # a write this soon after the last batch ended is part of a stream ...
    GATHER_S = 0.004  # ... and waits this long from its arrival for others to join its batch
    name = "aicc-group-commit"

    def __init__(self) -> None:
        self._queued = threading.Condition()
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._thread: threading.Thread | None = None
        self._closing = False
        self._first_at = 0.0  # when the oldest of `_pending` arrived
        self._ended_at = -math.inf  # when the last batch was settled
        self._last_size = 0  # how many writes it held

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue `item`; its future is done once its batch is committed (or failed)."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        with self._queued:
            if not self._pending:
                self._first_at = time.monotonic()
            self._pending.append((item, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            else:
                self._queued.notify()
        return future

    def close(self) -> None:
        """Commit what is queued and end the thread. Blocking."""
        with self._queued:
            thread, self._closing = self._thread, True
            self._queued.notify()
        if thread is not None:
            thread.join()
        with self._queued:
            self._closing = False

    def commit(self, items: Sequence[Item]) -> Sequence[Result | Exception]:
        """Write `items` (in this thread), returning each one's result or exception."""
        raise NotImplementedError

    def stopped(self) -> None:
        """The thread ends (idle, or closed): give back what it holds."""

    def _run(self) -> None:
        while True:
            with self._queued:
                if not self._pending and not self._closing:
                    self._queued.wait(self.IDLE_S)
                if not self._pending:
                    self._thread = None
                    self.stopped()
                    return
                self._gather()
                batch = self._pending[: self.MAX_BATCH]
                del self._pending[: self.MAX_BATCH]
                self._last_size = len(batch)
            try:
                outcomes = list(self.commit([item for item, _ in batch]))
            except Exception as err:  # a subclass's own failure: every item in it fails
                log.exception("%s: a batch of %d failed", self.name, len(batch))
                outcomes = [err] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(future.get_loop(), []).append((future, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # its loop closed: no one waits now
                    loop.call_soon_threadsafe(_settle, settled)
            self._ended_at = time.monotonic()

    def _gather(self) -> None:
        """Under `_queued`, with writes pending: when they came as part of a stream, wait until
        the oldest has waited `GATHER_S` for more to join, or as many are pending as the last
        batch held (at least two: a few callers each waiting for their answer come back
        together, and need not wait the rest of it), or `close`."""
        if self._first_at - self._ended_at > self.STREAM_S:
            return
        until = self._first_at + self.GATHER_S
        enough = min(max(2, self._last_size), self.MAX_BATCH)
        while len(self._pending) < enough and not self._closing:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._queued.wait(left)


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if future.done():  # its request was cancelled (the client left)
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
            future.exception()  # retrieved: a request that stopped waiting logs nothing more
        else:
            future.set_result(outcome)


class Transactions(GroupCommit[Callable[[Session], Any], Any]):
    """Callables that each take a session, run as one transaction per batch (`run`)."""

    name = "aicc-transactions"

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work(session)` committed, in a batch with whatever else is queued; its result, or
        what it raised. It may run twice (the second time alone, after its batch was rolled
        back), so it must write only through the session."""
        result: T = await self.submit(work)
        return result

    def commit(self, items: Sequence[Callable[[Session], Any]]) -> Sequence[Any]:
        try:
            with self.db.session() as session:
                if len(items) == 1:
                    return [items[0](session)]
                batch = session.info[BATCH] = Batch()
                try:
                    results = [work(session) for work in items]
                    batch.write(session)  # before the commit: its hooks write last (waiting)
                finally:
                    del session.info[BATCH]
                return results
        except Exception as err:
            if len(items) == 1:
                return [err]
        return [self._alone(work) for work in items]  # rolled back: each on its own

    def _alone(self, work: Callable[[Session], Any]) -> Any:
        try:
            with self.db.session() as session:
                return work(session)
        except Exception as err:
            return err


BATCH = "aicc.batch"  # session.info: the `Batch` of the callables a transaction runs together


class Batch:
    """What the callables of one batch (`Transactions.commit`) share in its transaction: reads
    that none of them changes, made once (`shared`), and the rows they insert, written together
    after the last of them (`write`), a statement per table with all its rows (on SQLite one
    `executemany`, on PostgreSQL a pipeline), in the order each statement was first used, so a
    row is written after those it references. Any one that raises, at a callable or at the
    write, rolls the batch back and each callable runs again alone, reading and writing at once:
    a key that two callables of a batch both insert (an Idempotency-Key sent twice at once), or
    one already stored (a retry: a batch of submits reads no key, `batched`), is such a failure,
    and alone the retry finds the stored row, as a read in the batch would have."""

    def __init__(self) -> None:
        self.reads: dict[Any, Any] = {}
        self.inserts: dict[Executable, list[dict[str, Any]]] = {}

    def write(self, session: Session) -> None:
        inserts, self.inserts = self.inserts, {}
        for statement, rows in inserts.items():
            session.execute(statement, rows)


def batched(session: Session) -> bool:
    """Whether `session` runs a batch's callables: a check that a unique constraint also makes
    may be left to it there (a clash fails the batch, and alone the callable checks)."""
    return BATCH in session.info


def insert(session: Session, statement: Executable, row: dict[str, Any]) -> None:
    """`statement` (an INSERT) with `row`: now, or, when `session` runs a batch, with the batch's
    other rows of the same statement (the same object: build it once) before it commits.
    Nothing in the transaction may read the row before then: only for rows that no callable of
    a batch reads (a job's, its event's, its audit entry's)."""
    batch: Batch | None = session.info.get(BATCH)
    if batch is None:
        session.execute(statement, row)
    else:
        batch.inserts.setdefault(statement, []).append(row)


def shared(session: Session, key: Any, read: Callable[[], T]) -> T:
    """`read()`, made once per batch for `key` when `session` runs a batch: only for what no
    callable of a batch writes (a project, a queue, the counts kept until the commit)."""
    batch: Batch | None = session.info.get(BATCH)
    if batch is None:
        return read()
    if key not in batch.reads:
        batch.reads[key] = read()
    result: T = batch.reads[key]
    return result
