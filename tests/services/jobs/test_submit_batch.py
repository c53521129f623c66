"""Submits committed together (the API's group commit, store/group_commit.py) read their project,
queue and waiting counts once for the batch and write their job rows, events and audit entries
together before it commits: each answer is still the job as stored, with its event and audit
entry, and a batch that cannot be written whole answers each submit as it would have alone.
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.server import ServerState, build
from aicc.services.common import Invalid, TooMany
from aicc.services.jobs import jobs, waiting
from aicc.services.tenancy import tenancy
from aicc.store.group_commit import Transactions
from aicc.store.tables.tenancy import AuditRow
from aicc.testing.servers import admin

SPEC = JobSpec.model_validate({"command": "true", "resources": {"cpu": "100m"}})


@pytest.fixture
def served(tmp_path: Path, db_url: str | None) -> Iterator[tuple[ServerState, Principal]]:
    """A server's state, its loops not started (nothing schedules the jobs), and its admin."""
    home = tmp_path / "home"
    _app, state = build(Settings(home=home, db=db_url, sandbox="off"))
    try:
        yield state, admin(state, home)
    finally:
        state.db.dispose()


def submitting(
    who: Principal, key: str | None, spec: JobSpec = SPEC, most: int = 1000
) -> Callable[[Session], Any]:
    limits = jobs.SubmitLimits(max_pending_per_user=most)
    return lambda session: jobs.submit(session, who, spec, idempotency_key=key, limits=limits)


def test_a_batch_answers_each_job_as_stored_with_its_event_and_audit_entry(
    served: tuple[ServerState, Principal],
) -> None:
    state, who = served
    with state.db.session() as session:
        project = tenancy.resolve_project(session, who, None)
        tenancy.create_queue(session, who, project=project, name="lane", max_pending=10)
    in_lane = JobSpec.model_validate({"command": "./train.py", "queue": "lane"})
    works = [submitting(who, f"k-{i}", in_lane if i % 2 else SPEC) for i in range(5)]
    answers = Transactions(state.db).commit(works)
    assert all(created for _, created in answers), answers
    with state.db.reader() as session:
        for job, _ in answers:
            assert jobs.get(session, who, job.id) == job
            assert [e.to_state for e in jobs.events(session, who, job.id)] == ["pending"]
        audited = session.scalars(select(AuditRow.object_id).where(AuditRow.action == "job.submit"))
        assert sorted(audited) == sorted(job.id for job, _ in answers)
        assert waiting.drift(session) == {}
        assert waiting.counts(session, [waiting.of_user(who.user_id)]) == [5]
    assert [job.queue for job, _ in answers] == ["default", "lane"] * 2 + ["default"]


def test_a_key_sent_twice_in_one_batch_is_one_job(served: tuple[ServerState, Principal]) -> None:
    """The batch cannot be written (the second row has the first's key): alone, the first is
    made and the second finds it, as two submits one after the other would."""
    state, who = served
    first, again, other = Transactions(state.db).commit(
        [submitting(who, "same"), submitting(who, "same"), submitting(who, "other")]
    )
    assert first[1] and not again[1] and other[1]
    assert first[0].id == again[0].id != other[0].id
    with state.db.reader() as session:
        assert waiting.counts(session, [waiting.of_user(who.user_id)]) == [2]


def test_a_batch_reads_no_key_and_a_retry_in_it_still_answers_its_earlier_job(
    served: tuple[ServerState, Principal],
) -> None:
    """A batch leaves the Idempotency-Keys to the jobs table's unique key: no read per submit.
    A retry among new submits fails the batch's insert; alone, it answers its earlier job, and
    the same key with another spec is refused, only to its sender."""
    state, who = served
    ((earlier, _),) = Transactions(state.db).commit([submitting(who, "sent")])
    reads: list[str] = []

    def count(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        reads.extend([statement] if statement.startswith("SELECT jobs.id") else [])

    event.listen(state.db.engine, "before_cursor_execute", count)
    try:
        fresh = Transactions(state.db).commit([submitting(who, f"new-{i}") for i in range(6)])
        assert reads == [] and all(created for _, created in fresh), (reads, fresh)
        other = JobSpec.model_validate({"command": "false", "resources": {"cpu": "100m"}})
        new, again, changed = Transactions(state.db).commit(
            [submitting(who, "new-7"), submitting(who, "sent"), submitting(who, "sent", other)]
        )
    finally:
        event.remove(state.db.engine, "before_cursor_execute", count)
    assert new[1] and again == (earlier, False), (new, again)
    assert isinstance(changed, Invalid) and "Idempotency-Key" in str(changed), changed
    with state.db.reader() as session:
        assert waiting.counts(session, [waiting.of_user(who.user_id)]) == [8]


def test_a_batch_past_the_limit_refuses_only_the_submits_past_it(
    served: tuple[ServerState, Principal],
) -> None:
    state, who = served
    answers = Transactions(state.db).commit([submitting(who, f"k-{i}", most=2) for i in range(4)])
    made = [a for a in answers if isinstance(a, tuple)]
    refused = [a for a in answers if isinstance(a, TooMany)]
    assert (len(made), len(refused)) == (2, 2), answers
    with state.db.reader() as session:
        assert waiting.drift(session) == {}
        assert waiting.counts(session, [waiting.of_user(who.user_id)]) == [2]
