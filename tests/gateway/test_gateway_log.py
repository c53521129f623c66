"""The gateway's request log (`LogWriter`, `services.gateway.append`), on SQLite and
PostgreSQL: each record committed once, and a request's wait over only once its row is in the
store, from any event loop; a failed batch fails its waiting requests and the next batch is
written; `close` commits what was still queued; the rows are what SQLAlchemy itself writes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from aicc.gateway.request_log import LogWriter
from aicc.services.common import new_id, utcnow
from aicc.services.serving import gateway as gw
from aicc.store.db import Database, database_url
from aicc.store.tables.serving import GatewayRequestRow


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    database = Database(database_url(db_url, tmp_path))
    GatewayRequestRow.__table__.create(database.engine, checkfirst=True)  # migrated on PostgreSQL
    yield database
    database.dispose()


def record(request_id: str | None = None) -> gw.RequestRecord:
    return gw.RequestRecord(
        id=request_id or new_id("req"),
        org_id="org",
        project_id="prj",
        deployment_id="dep",
        key_id="key",
        route="chat",
        status=200,
        stream=False,
        billable=True,
        prompt_tokens=3,
        completion_tokens=5,
        latency_us=1000,
        attempts=1,
        replica="job",
        at=utcnow(),
    )


def logged(db: Database, request_id: str | None = None) -> int:
    query = select(func.count()).select_from(GatewayRequestRow)
    if request_id is not None:
        query = query.where(GatewayRequestRow.id == request_id)
    with db.reader() as session:
        return int(session.scalar(query) or 0)


def test_every_record_once_and_committed_before_its_request_goes_on(db: Database) -> None:
    writer = LogWriter(db)
    seen: list[str] = []
    missing: list[str] = []

    async def requests(n: int) -> None:
        async def one() -> None:
            made = record()
            await writer.submit(made)
            if logged(db, made.id) != 1:  # what `durable_log` promises the answer
                missing.append(made.id)
            seen.append(made.id)

        await asyncio.gather(*(one() for _ in range(n)))

    # two event loops at once (a server's and, say, a test's): each is woken for its own
    loops = [threading.Thread(target=asyncio.run, args=(requests(60),)) for _ in range(2)]
    for thread in loops:
        thread.start()
    for thread in loops:
        thread.join(timeout=60)
    writer.close()
    assert missing == []
    assert len(seen) == len(set(seen)) == 120
    assert logged(db) == 120


def test_a_failed_batch_fails_its_requests_and_the_next_is_written(db: Database) -> None:
    writer = LogWriter(db)

    async def run() -> None:
        first = record()
        await writer.submit(first)
        again = writer.submit(record(first.id))  # the same id twice: the insert fails
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            await again
        await writer.submit(record())

    asyncio.run(run())
    writer.close()
    assert logged(db) == 2


def test_close_commits_what_was_queued_and_a_later_record_starts_it_again(
    db: Database,
) -> None:
    writer = LogWriter(db)

    async def unawaited(n: int) -> None:  # as with `durable_log: false`
        for _ in range(n):
            writer.submit(record())

    asyncio.run(unawaited(50))
    writer.close()
    assert logged(db) == 50

    async def one() -> None:
        await writer.submit(record())

    asyncio.run(one())
    writer.close()
    assert logged(db) == 51


def test_the_rows_are_those_sqlalchemy_writes(db: Database) -> None:
    """SQLite's rows skip SQLAlchemy's execution: each value stored as its own insert stores
    it, whole seconds and a replica of None included."""
    ours = record()
    whole = replace(record(), replica=None, at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
    gw.record(db, [ours, whole])
    twins = [replace(ours, id=ours.id + "x"), replace(whole, id=whole.id + "x")]
    with db.engine.begin() as connection:
        connection.execute(insert(GatewayRequestRow), [r.__dict__ for r in twins])
    with db.engine.connect() as connection:
        stored = {
            row[0]: tuple(row[1:])
            for row in connection.execute(text("SELECT * FROM gateway_requests ORDER BY id"))
        }
    assert stored[ours.id] == stored[ours.id + "x"]
    assert stored[whole.id] == stored[whole.id + "x"]
    with db.reader() as session:
        read = session.get(GatewayRequestRow, whole.id)
        assert read is not None and (read.at, read.replica, read.stream) == (whole.at, None, False)
