"""SQLite writers wait for the write lock in `begin_immediate`, not in SQLite's busy handler."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from aicc.store import db


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def test_a_writer_waits_for_the_lock_and_keeps_its_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first, second = _connect(path), _connect(path)
    first.execute("CREATE TABLE t (x INTEGER)")
    db.begin_immediate(first)
    first.execute("INSERT INTO t VALUES (1)")
    got: list[int] = []

    def write() -> None:
        db.begin_immediate(second)  # waits: the first connection holds the lock
        got.append(second.execute("SELECT count(*) FROM t").fetchone()[0])
        second.execute("INSERT INTO t VALUES (2)")
        second.execute("COMMIT")

    waiter = threading.Thread(target=write)
    waiter.start()
    time.sleep(0.2)
    assert not got, "the second writer got the lock while the first held it"
    first.execute("COMMIT")
    waiter.join(timeout=10)
    assert got == [1], "the second writer saw the first one's row once it had the lock"
    assert first.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    assert second.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_a_writer_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.db"
    first, second = _connect(path), _connect(path)
    db.begin_immediate(first)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        db.begin_immediate(second)
    assert not second.in_transaction
    assert second.execute("PRAGMA busy_timeout").fetchone()[0] == 50


def test_a_writer_that_gives_up_raises_sqlalchemys_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that cannot get the lock fails as any database error does (the API answers
    it with a 503 and Retry-After), not with the driver's own exception (a 500)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    store = db.open_database(None, tmp_path)
    holder = _connect(tmp_path / "aicc.db")
    db.begin_immediate(holder)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.05)
    try:
        with pytest.raises(OperationalError, match="locked"), store.session() as session:
            session.execute(text("DELETE FROM jobs"))
    finally:
        holder.execute("ROLLBACK")
        store.dispose()


def test_the_api_answers_a_locked_database_with_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aicc.testing.servers import in_process

    with in_process(tmp_path / "home") as (api, _state):
        holder = _connect(tmp_path / "home" / "aicc.db")
        monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 0.2)
        db.begin_immediate(holder)
        try:
            refused = api.post("/api/v1/jobs", json={"command": "true"})
        finally:
            holder.execute("ROLLBACK")
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"


class _Recovering:
    """A connection whose first tries at the lock meet another connection recovering the WAL
    (after a crash): SQLite says SQLITE_BUSY_RECOVERY, an extended code of SQLITE_BUSY."""

    def __init__(self, conn: sqlite3.Connection, busy: int) -> None:
        self.conn, self.busy = conn, busy

    def execute(self, sql: str) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self.busy > 0:
            self.busy -= 1
            err = sqlite3.OperationalError("database is locked")
            err.sqlite_errorcode = 261  # SQLITE_BUSY_RECOVERY (Python reports extended codes)
            err.sqlite_errorname = "SQLITE_BUSY_RECOVERY"
            raise err
        return self.conn.execute(sql)


def test_a_writer_waits_out_another_connections_recovery(tmp_path: Path) -> None:
    conn = _connect(tmp_path / "t.db")
    recovering = _Recovering(conn, busy=3)
    db.begin_immediate(recovering)  # type: ignore[arg-type]
    assert conn.in_transaction and recovering.busy == 0
