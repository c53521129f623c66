"""SQLite's one writer: writers take its lock at their first statement (BEGIN IMMEDIATE), not when
a session opens, and give it back at COMMIT or ROLLBACK."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from aicc.store.db import ALIVE_S, Database
from aicc.testing.postgres import start_postgres


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'aicc.db'}")
    with database.session() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    return database


def count(db: Database) -> int:
    with db.reader() as session:
        return int(session.execute(text("SELECT count(*) FROM t")).scalar_one())


def test_an_open_session_that_has_not_written_holds_no_one_up(db: Database) -> None:
    """A test (or a service) may open a session and, before its first statement, wait on
    something that writes in another thread (an API call to this server)."""

    def other() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES (1)"))

    with db.session() as outer:
        writer = threading.Thread(target=other)
        writer.start()
        writer.join(timeout=10)
        assert not writer.is_alive(), "the other thread's write waited for an unused session"
        outer.execute(text("INSERT INTO t VALUES (2)"))
    assert count(db) == 2


def test_writers_of_many_threads_all_commit_and_a_failed_one_lets_the_next_go(
    db: Database,
) -> None:
    def many() -> None:
        for n in range(50):
            with db.session() as session:
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})

    threads = [threading.Thread(target=many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert count(db) == 400
    with pytest.raises(Exception, match="no such table"), db.session() as session:
        session.execute(text("INSERT INTO missing VALUES (1)"))
    done = threading.Event()

    def after() -> None:
        with db.session() as session:
            session.execute(text("INSERT INTO t VALUES (0)"))
        done.set()

    threading.Thread(target=after).start()  # another thread: the lock must be free, not held
    assert done.wait(timeout=10) and count(db) == 401


@pytest.mark.postgres
def test_a_pooled_connection_is_pinged_only_after_idling_and_one_the_restart_killed_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a connection given back moments ago is used without a ping (a submit's
    round trip saved); one idle longer is pinged, and one whose server restarted meanwhile is
    replaced before use, so the statement succeeds."""
    postgres = start_postgres(tmp_path / "pg")  # its own: this one is restarted
    try:
        db = Database(postgres.url)
        pings: list[int] = []
        ping = db.engine.dialect.do_ping
        monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(1) or ping(c))

        def select_one() -> int:
            with db.reader() as session:
                return int(session.execute(text("SELECT 1")).scalar_one())

        assert select_one() == 1 and len(pings) == 1  # a new connection: pinged
        assert select_one() == 1 and len(pings) == 1  # given back just now: not pinged
        postgres.crash()
        postgres.start()
        time.sleep(ALIVE_S + 0.1)
        assert select_one() == 1  # the dead connection was found by its ping and replaced
        assert len(pings) >= 2
        db.dispose()
    finally:
        postgres.stop()
