"""`Database.on_marked_commit`: a transaction marked `changes.changed` calls back once, after it
commits; never after a rollback, nor for a mark inside a savepoint that rolled back, nor when a
savepoint is released before the transaction commits; a loop's own step marks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from aicc.services import changes
from aicc.store.db import Database


@pytest.fixture
def woken(tmp_path: Path) -> tuple[Database, list[str]]:
    db = Database(f"sqlite:///{tmp_path / 'marks.db'}")
    calls: list[str] = []
    db.on_marked_commit(changes.CHANGED, lambda: calls.append("wake"))
    return db, calls


def test_a_marked_commit_wakes_once_after_it_commits(woken: tuple[Database, list[str]]) -> None:
    db, calls = woken
    with db.session() as session:
        session.execute(text("SELECT 1"))
        changes.changed(session)
        changes.changed(session)
        assert calls == []  # not before the commit
    assert calls == ["wake"]
    with db.session() as session:
        session.execute(text("SELECT 1"))  # unmarked
    assert calls == ["wake"]
    db.dispose()


def test_a_rolled_back_transaction_wakes_nothing(woken: tuple[Database, list[str]]) -> None:
    db, calls = woken
    with pytest.raises(RuntimeError), db.session() as session:
        session.execute(text("SELECT 1"))
        changes.changed(session)
        raise RuntimeError("the route failed")
    assert calls == []
    db.dispose()


def test_savepoints(woken: tuple[Database, list[str]]) -> None:
    db, calls = woken
    with db.session() as session:  # a dry run: marked in a savepoint rolled back
        nested = session.begin_nested()
        changes.changed(session)
        nested.rollback()
    assert calls == []
    with db.session() as session:  # marked before a savepoint that rolls back: kept
        changes.changed(session)
        nested = session.begin_nested()
        nested.rollback()
    assert calls == ["wake"]
    with db.session() as session:  # a savepoint released: only the commit wakes
        with session.begin_nested():
            changes.changed(session)
        assert calls == ["wake"]
    assert calls == ["wake", "wake"]
    db.dispose()


def test_a_loops_own_step_marks_nothing(woken: tuple[Database, list[str]]) -> None:
    db, calls = woken
    with changes.looping(), db.session() as session:
        changes.changed(session)
    assert calls == []
    with db.session() as session:  # and the thread marks again after it
        changes.changed(session)
    assert calls == ["wake"]
    db.dispose()
