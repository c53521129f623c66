"""The count of job writes (`snapshots.changes`, migration 0035's triggers) moves with every
insert, update and delete of a job row, whatever statement made it; where it is not kept it is
None, never a number that stands still (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.server import build
from aicc.services.jobs import jobs, snapshots
from aicc.services.tenancy import tokens as t
from aicc.store.tables import JobRow


@pytest.fixture
def state(tmp_path: Path, db_url: str | None) -> Iterator[Any]:
    home = tmp_path / "home"
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
