"""The count of job writes (`snapshots.changes`, migration 0035's triggers) moves with every
insert, update and delete of a job row, whatever statement made it; where it is not kept it is
None, never a number that stands still; and each job row is stamped by its last write
(`jobs.change`, migration 0037), so that `snapshots.written` reads exactly the rows written
since `snapshots.mark` was read, whatever statement wrote them, a write then in progress too,
and no others (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.server import build
from aicc.services.jobs import jobs, snapshots
from aicc.services.tenancy import tokens as t
from aicc.store.tables.jobs import JobRow
from aicc.testing.servers import admin, seeded


@pytest.fixture
def state(tmp_path: Path, db_url: str | None) -> Iterator[Any]:
    home = tmp_path / "home"
    seeded(home, db_url)
    _app, state = build(Settings(home=home, db=db_url, sandbox="off"))
    try:
        yield state
    finally:
        state.db.dispose()


def _count(state: Any) -> int | None:
    with state.db.reader() as session:
        return snapshots.changes(session)


def test_every_write_to_a_job_row_moves_the_count_and_none_stands_still(
    state: Any, tmp_path: Path
) -> None:
    db = state.db
    secret = (tmp_path / "home" / "admin.token").read_text().strip()
    with db.reader() as session:
        caller = t.authenticate(session, t.digest(secret))[0]
    assert caller is not None
    who = caller.who
    before = _count(state)
    if db.dialect != "sqlite":
        assert before is None  # not kept there: the loop reads in full
        return
    assert before is not None
    spec = JobSpec.model_validate({"command": "true"})
    with db.session() as session:
        job = jobs.submit(session, who, spec, idempotency_key="a")[0].id
    inserted = _count(state)
    assert inserted is not None and inserted > before
    assert _count(state) == inserted  # reading moves nothing
    with db.session() as session:  # a statement no service wrote: counted all the same
        session.execute(update(JobRow).where(JobRow.id == job).values(message="told"))
    updated = _count(state)
    assert updated is not None and updated > inserted
    with db.session() as session:
        session.execute(text("DELETE FROM events"))
        session.execute(text("DELETE FROM replicas"))
        session.execute(delete(JobRow).where(JobRow.id == job))
    deleted = _count(state)
    assert deleted is not None and deleted > updated
    with db.session() as session:  # a rebuilt jobs table loses its triggers: not kept any more
        session.execute(text("DROP TRIGGER job_changes_update"))
    assert _count(state) is None


def _mark(state: Any) -> snapshots.Mark:
    with state.db.reader() as session:
        mark = snapshots.mark(session)
    assert mark is not None
    return mark


def _since(state: Any, mark: snapshots.Mark) -> list[str]:
    with state.db.reader() as session:
        return [row.id for row in snapshots.written(session, mark)]


def _submit(state: Any, who: Any, key: str) -> str:
    spec = JobSpec.model_validate({"command": "true"})
    with state.db.session() as session:
        return jobs.submit(session, who, spec, idempotency_key=key)[0].id


def test_the_rows_written_since_a_mark_are_read_alone(state: Any, tmp_path: Path) -> None:
    who = admin(state, tmp_path / "home")
    first, second = _submit(state, who, "a"), _submit(state, who, "b")
    marked = _mark(state)
    assert _since(state, marked) == []  # nothing written since
    third = _submit(state, who, "c")
    assert _since(state, marked) == [third]
    after_submit = _mark(state)
    with state.db.session() as session:  # a statement no service wrote: stamped all the same
        session.execute(update(JobRow).where(JobRow.id == first).values(message="told"))
    assert _since(state, marked) == [third, first]  # in the order written
    assert _since(state, after_submit) == [first]
    with state.db.session() as session:  # many rows in one statement: each stamped
        session.execute(update(JobRow).values(message="all told"))
    assert set(_since(state, after_submit)) == {first, second, third}


def test_a_write_in_progress_when_the_mark_is_read_is_read_after(
    state: Any, tmp_path: Path
) -> None:
    """A job written by a transaction that commits after the mark was read is among the rows
    read since it, though it was written before."""
    who = admin(state, tmp_path / "home")
    job = _submit(state, who, "a")
    with state.db.session() as session:
        session.execute(update(JobRow).where(JobRow.id == job).values(message="in flight"))
        marked = _mark(state)  # another connection: the write is not committed yet
    assert _since(state, marked) == [job]


def test_the_stamp_is_no_write_of_its_own(state: Any, tmp_path: Path) -> None:
    """SQLite: the triggers' own UPDATE of the row fires no trigger (recursive triggers are
    off): one write moves the count of job writes by one, and stamps its row with it."""
    if state.db.dialect != "sqlite":
        pytest.skip("the count of job writes is SQLite's (migration 0035)")
    who = admin(state, tmp_path / "home")
    with state.db.session() as session:
        assert session.execute(text("PRAGMA recursive_triggers")).scalar() == 0
    job = _submit(state, who, "a")
    before = _mark(state)
    with state.db.session() as session:
        session.execute(update(JobRow).where(JobRow.id == job).values(message="once"))
    assert _mark(state) == before + 1  # type: ignore[operator]
    with state.db.reader() as session:
        assert [r.id for r in snapshots.written(session, before)] == [job]
        assert session.scalar(select(JobRow.change).where(JobRow.id == job)) == _mark(state)
