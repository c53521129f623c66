"""Group commit (`store/group_commit.py`), on SQLite and PostgreSQL: writes queued while a batch
commits go in one transaction, each caller gets its own answer, and a write that raises fails
alone, its batch's others committed and nothing of its own kept."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.orm import Session

from aicc.store import group_commit
from aicc.store.db import Database, database_url
from aicc.store.group_commit import Transactions

NOTES = Table("notes", MetaData(), Column("n", Integer, primary_key=True), Column("text", String))


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    database = Database(database_url(db_url, tmp_path))
    NOTES.drop(database.engine, checkfirst=True)
    NOTES.create(database.engine)
    yield database
    NOTES.drop(database.engine)
    database.dispose()


def kept(db: Database) -> list[int]:
    with db.reader() as session:
        return sorted(session.scalars(select(NOTES.c.n)))


def write(n: int) -> Callable[[Session], int]:
    def work(session: Session) -> int:
        session.execute(insert(NOTES).values(n=n, text=f"note {n}"))
        return n * 10

    return work


def behind_a_busy_writer(
    writes: Transactions, first: int, works: list[Callable[[Session], int]]
) -> list[object]:
    """Write `first` while `works` are queued behind it (the writer busy, so they wait), then
    let it finish: `works` come as one batch. Each one's result or exception, `first`'s first."""
    release = threading.Event()

    def slow(session: Session) -> int:
        release.wait(10)
        return write(first)(session)

    async def main() -> list[object]:
        busy = asyncio.ensure_future(writes.run(slow))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(writes.run(work)) for work in works]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(busy, *queued, return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        writes.close()


def test_writes_queued_meanwhile_commit_as_one_transaction(db: Database) -> None:
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda _conn: commits.append(1))
    answers = behind_a_busy_writer(Transactions(db), 0, [write(n) for n in range(1, 21)])
    assert answers == [n * 10 for n in range(21)]
    assert len(commits) == 2  # the busy one alone, then the twenty together
    assert kept(db) == list(range(21))


def test_a_write_that_raises_fails_alone_and_keeps_nothing(db: Database) -> None:
    def half_then_raise(session: Session) -> int:
        session.execute(insert(NOTES).values(n=99, text="half"))
        raise ValueError("over the limit")

    answers = behind_a_busy_writer(Transactions(db), 0, [write(1), half_then_raise, write(2)])
    first, one, failed, two = answers
    assert (first, one, two) == (0, 10, 20)
    assert isinstance(failed, ValueError) and str(failed) == "over the limit"
    assert kept(db) == [0, 1, 2]  # not 99: the failed write's row went with its rollback


def test_a_write_that_breaks_its_transaction_fails_alone(db: Database) -> None:
    """A duplicate key aborts the whole transaction (on PostgreSQL, every later statement in
    it fails too): the others of its batch are run again, each alone, and committed."""
    works = [write(n) for n in (6, 5, 7)]  # 5 again: a primary key conflict
    _, six, again, seven = behind_a_busy_writer(Transactions(db), 5, works)
    assert (six, seven) == (60, 70)
    assert "UNIQUE" in str(again).upper() or "duplicate key" in str(again)
    assert kept(db) == [5, 6, 7]


def test_close_commits_what_is_queued_and_a_later_write_starts_again(db: Database) -> None:
    writes = Transactions(db)

    async def queue_three() -> list[asyncio.Future[int]]:
        return [writes.submit(write(n)) for n in (1, 2, 3)]

    asyncio.run(queue_three())  # its loop is gone before the batch is settled: nobody waits
    writes.close()
    assert kept(db) == [1, 2, 3]

    async def one_more() -> int:
        return int(await writes.run(write(4)))

    assert asyncio.run(one_more()) == 40
    writes.close()
    assert kept(db) == [1, 2, 3, 4]


INSERT = insert(NOTES)  # one statement: a batch writes the rows of each statement together


def noted(n: int, reads: list[int]) -> Callable[[Session], int]:
    """A write through the batch's helpers: a shared read (counted in `reads`), then its row."""

    def work(session: Session) -> int:
        def read() -> int:
            reads.append(1)
            return len(kept_in(session))

        seen = group_commit.shared(session, "seen", read)
        group_commit.insert(session, INSERT, {"n": n, "text": f"saw {seen}"})
        return seen

    return work


def kept_in(session: Session) -> list[int]:
    return sorted(session.scalars(select(NOTES.c.n)))


def test_a_batch_reads_once_and_writes_its_rows_together_before_it_commits(db: Database) -> None:
    statements: list[str] = []
    event.listen(
        db.engine, "before_cursor_execute", lambda *args: statements.append(args[2].split()[0])
    )
    reads: list[int] = []
    answers = behind_a_busy_writer(Transactions(db), 0, [noted(n, reads) for n in (1, 2, 3)])
    assert answers == [0, 1, 1, 1]  # each saw the one row committed before: none of the batch's
    assert len(reads) == 1  # read once for the three
    assert kept(db) == [0, 1, 2, 3]
    with db.reader() as session:
        texts = session.execute(select(NOTES.c.text).where(NOTES.c.n > 0)).scalars().all()
    assert set(texts) == {"saw 1"}
    assert statements.count("INSERT") == 2  # the busy writer's, then the batch's three in one


def test_alone_a_write_reads_and_inserts_at_once(db: Database) -> None:
    reads: list[int] = []
    with db.session() as session:
        assert noted(1, reads)(session) == 0
        assert kept_in(session) == [1]  # written at once: no batch
        assert noted(2, reads)(session) == 1
    assert len(reads) == 2 and kept(db) == [1, 2]


def test_a_batch_whose_rows_clash_runs_each_alone(db: Database) -> None:
    """Two of a batch insert the same key: the batch's write fails, and alone the first commits
    and the second fails, as if each had come alone."""
    reads: list[int] = []
    _, first, clash, other = behind_a_busy_writer(
        Transactions(db), 0, [noted(5, reads), noted(5, reads), noted(6, reads)]
    )
    assert (first, other) == (1, 2)
    assert "UNIQUE" in str(clash).upper() or "duplicate key" in str(clash)
    assert kept(db) == [0, 5, 6]


class Sizes(group_commit.GroupCommit[int, int]):
    """A committer that keeps each batch's size and answers each item with itself."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def commit(self, items: Sequence[int]) -> Sequence[int]:
        self.sizes.append(len(items))
        return items


def test_a_write_in_a_stream_waits_for_company_and_a_lone_one_does_not() -> None:
    writes = Sizes()
    writes.STREAM_S, writes.GATHER_S = 30.0, 30.0  # every write after the first is in a stream

    async def main() -> float:
        started = time.monotonic()
        assert await writes.submit(1) == 1  # the committer idle: nothing to wait for
        alone_s = time.monotonic() - started
        writes.GATHER_S = 0.5
        second = writes.submit(2)
        await asyncio.sleep(0.05)  # arrives while the second waits for company
        assert await asyncio.gather(second, writes.submit(3)) == [2, 3]
        return alone_s

    try:
        assert asyncio.run(main()) < 10.0  # not the 30 s a write in a stream would wait
    finally:
        writes.close()
    assert writes.sizes == [1, 2]


def test_close_does_not_wait_for_company() -> None:
    writes = Sizes()
    writes.STREAM_S, writes.GATHER_S = 30.0, 30.0

    async def main() -> list[int]:
        await writes.submit(1)
        waiting = writes.submit(2)  # in a stream: it would wait 30 s for company
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, writes.close)
        assert time.monotonic() - started < 10.0
        return [await waiting]

    assert asyncio.run(main()) == [2]
    assert writes.sizes == [1, 1]


def test_a_stream_waits_only_for_as_many_as_its_last_batch_held() -> None:
    """Four callers each waiting for their answer send again together: the committer, in a
    stream, waits for the four, not for the rest of its window."""
    writes = Sizes()
    writes.STREAM_S, writes.GATHER_S = 30.0, 0.5

    async def main() -> float:
        assert await writes.submit(0) == 0  # idle: alone
        assert await asyncio.gather(*(writes.submit(n) for n in range(1, 5))) == [1, 2, 3, 4]
        writes.GATHER_S = 30.0  # from here a wait for company would be seen
        started = time.monotonic()
        assert await asyncio.gather(*(writes.submit(n) for n in range(5, 9))) == [5, 6, 7, 8]
        return time.monotonic() - started

    try:
        assert asyncio.run(main()) < 10.0
    finally:
        writes.close()
    assert sum(writes.sizes) == 9
