"""A quiet pass (loops/quiet.py) is skipped only where a full pass over the same state would make
the same waits and write nothing: random sequences of events (submits into full and free queues,
cancels, jobs ending, nodes added and cordoned, a lane's limit and a quota changed, the time
going on) on a real SQLite store; after each, a full pass is computed over the same state and
compared with what the loop's pass did."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.core.states import JobState
from aicc.loops import scheduling
from aicc.loops.lease import Lease
from aicc.loops.quiet import Quiet
from aicc.scheduler.framework import schedule
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import Wait
from aicc.server import build
from aicc.services.common import new_id, utcnow
from aicc.services.jobs import jobs, snapshots
from aicc.services.jobs.binding import shown_already
from aicc.services.jobs.transitions import change_state
from aicc.services.tenancy import tenancy
from aicc.services.tenancy import tokens as t
from aicc.store.tables import JobRow, NodeRow, ProjectRow, QueueRow, ReplicaRow

QUEUES = ("lane", "pair", "default")  # max_running 1, max_running 2, no limit
PROFILE = get_profile("default")


@dataclass
class Center:
    """A server's store with its loops stopped: the test runs the scheduling passes."""

    state: Any
    who: Any
    project: str
    queues: dict[str, str]
    lease: Lease
    now: datetime
    quiet: Quiet = field(default_factory=Quiet)
    parsed: snapshots.Parsed = field(default_factory=snapshots.Parsed)
    count: int = 0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with its database migrated, two queues with lanes and one node, made once."""
    home = tmp_path_factory.mktemp("quiet") / "home"
    _app, state = build(Settings(home=home, sandbox="off"))
    with state.db.session() as session:
        who = _admin(state, home)
        project = tenancy.resolve_project(session, who, None)
        for name, most in (("lane", 1), ("pair", 2)):
            tenancy.create_queue(session, who, project=project, name=name, max_running=most)
    _add_node(state, "n0")
    state.db.dispose()
    return home


def _admin(state: Any, home: Path) -> Any:
    secret = (home / "admin.token").read_text().strip()
    with state.db.reader() as session:
        caller = t.authenticate(session, t.digest(secret))[0]
    assert caller is not None
    return caller.who


@contextmanager
def center(template: Path) -> Iterator[Center]:
    """A fresh copy of the template's store, its lease held by the test."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(template, home)
        _app, state = build(Settings(home=home, sandbox="off"))
        try:
            who = _admin(state, home)
            with state.db.reader() as session:
                queues = {q.name: q.id for q in session.scalars(select(QueueRow))}
                project = tenancy.resolve_project(session, who, None).id
            lease = Lease(state.db, name="test", holder="test", ttl_s=30 * 86400)
            now = utcnow()
            assert lease.try_acquire(now)
            yield Center(state, who, project, queues, lease, now)
        finally:
            state.db.dispose()


def _add_node(state: Any, name: str) -> None:
    with state.db.session() as session:
        session.add(
            NodeRow(
                id=new_id("node"),
                name=name,
                executor="slurm",
                labels={},
                cpu_milli=4000,
                memory_mib=16384,
                state="ready",
                created_at=utcnow(),
            )
        )


def _submit(center: Center, queue: str, cpu: int) -> None:
    spec = JobSpec.model_validate(
        {"command": "true", "queue": queue, "resources": {"cpu": f"{cpu}m"}}
    )
    center.count += 1
    limits = jobs.SubmitLimits(max_pending_per_user=10**6)
    with center.state.db.session() as session:
        jobs.submit(session, center.who, spec, idempotency_key=f"k{center.count}", limits=limits)


def _pick(center: Center, states: tuple[str, ...], pick: int) -> str | None:
    with center.state.db.reader() as session:
        ids = list(
            session.scalars(select(JobRow.id).where(JobRow.state.in_(states)).order_by(JobRow.id))
        )
    return ids[pick % len(ids)] if ids else None


def _end(center: Center, pick: int) -> None:
    """A placed job's replicas end and the job succeeds, as reconcile would record it."""
    job_id = _pick(center, ("scheduled", "running"), pick)
    if job_id is None:
        return
    with center.state.db.session() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        if row.state == "scheduled":
            change_state(session, row, JobState.RUNNING, reason="started")
        change_state(session, row, JobState.SUCCEEDED, reason="exited")
        session.execute(
            update(ReplicaRow)
            .where(ReplicaRow.job_id == job_id)
            .values(state="succeeded", ended_at=utcnow())
        )


def _apply(center: Center, event: tuple[str, int]) -> None:
    kind, n = event
    db = center.state.db
    if kind == "submit":
        _submit(center, QUEUES[n % 3], 100 + 400 * (n % 4))
    elif kind == "cancel":
        job_id = _pick(center, ("pending", "admitted"), n)
        if job_id is not None:
            with db.session() as session:
                jobs.cancel(session, center.who, job_id)
    elif kind == "end":
        _end(center, n)
    elif kind == "node":
        _add_node(center.state, f"n{center.count}-{n}")
        center.count += 1
    elif kind == "cordon":
        with db.session() as session:
            session.execute(update(NodeRow).values(state=("cordoned", "ready")[n % 2]))
    elif kind == "lane":
        with db.session() as session:
            queue = center.queues[("lane", "pair")[n % 2]]
            session.execute(
                update(QueueRow).where(QueueRow.id == queue).values(max_running=1 + n % 3)
            )
    elif kind == "quota":
        with db.session() as session:
            quota = {"guaranteed": {}, "max": {"cpu_milli": 500 * (n % 5)} if n % 5 else {}}
            session.execute(
                update(ProjectRow).where(ProjectRow.id == center.project).values(quota=quota)
            )
    else:  # the time goes on: fair-share decay, waits, reservations
        center.now += timedelta(minutes=1 + 7 * n)


def _pass(center: Center) -> bool:
    """One pass of the loop after a full pass's decisions were computed over the same state:
    where the loop skipped it, the full pass binds nothing and every wait is shown already.
    Returns whether the loop's pass was skipped."""
    db, now = center.state.db, center.now
    with db.reader() as session:
        read = snapshots.read(session, now)
        assert snapshots.read(session, now, parsed=center.parsed).snapshot == read.snapshot
    full = schedule(read.snapshot, PROFILE)
    skipped = center.quiet.skipped
    assert center.lease.try_acquire(now)
    scheduling.cycle(db, center.lease, now, PROFILE, parsed=center.parsed, quiet=center.quiet)
    if center.quiet.skipped == skipped:
        return False
    assert not [d for d in full if not isinstance(d, Wait)], "a skipped pass would have bound"
    for decision in full:
        assert isinstance(decision, Wait)
        assert shown_already(decision, read.shown.get(decision.job_id)), decision
    return True


EVENTS = st.tuples(
    st.sampled_from(
        ["submit", "submit", "cancel", "end", "node", "cordon", "lane", "quota", "time"]
    ),
    st.integers(min_value=0, max_value=50),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(EVENTS, min_size=1, max_size=25))
def test_a_skipped_pass_is_one_a_full_pass_would_leave_unchanged(
    template: Path, events: list[tuple[str, int]]
) -> None:
    with center(template) as c:
        for _ in range(4):  # a full lane with jobs behind it, told why
            _submit(c, "lane", 100)
        for _ in range(3):
            _pass(c)
        skipped = 0
        for change in events:
            _apply(c, change)
            skipped += _pass(c)
            skipped += _pass(c)  # after one that wrote its waits: skipped if nothing else moved
        event("a pass skipped" if skipped else "no pass skipped")  # --hypothesis-show-statistics


def test_a_long_queue_behind_a_full_lane_is_skipped_until_a_job_changes(template: Path) -> None:
    """The case the skip is for, step by step: it is taken once the waits are shown, and a
    submit, a new lease epoch or a job that can start each bring a full pass back."""
    with center(template) as c:
        for _ in range(6):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(4)] == [False, False, True, True]  # bound, told, quiet
        c.now += timedelta(hours=3)  # the time alone changes nothing behind a full lane
        _apply(c, ("node", 1))
        _apply(c, ("quota", 3))
        assert _pass(c)
        _submit(c, "default", 100)  # a job that can start: a full pass binds it
        assert [_pass(c) for _ in range(3)] == [False, False, True]
        with c.state.db.reader() as session:
            latest = select(JobRow.state).order_by(JobRow.created_at.desc()).limit(1)
            assert session.scalar(latest) == "scheduled"
        c.lease.release()  # another server may have led meanwhile: read in full
        assert c.lease.try_acquire(c.now)
        assert [_pass(c) for _ in range(2)] == [False, True]
        # one more behind the lane: told by a full pass, whose own write is all that moved
        _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(2)] == [False, True]
        _apply(c, ("lane", 4))  # the lane takes two now
        assert [_pass(c) for _ in range(3)] == [False, False, True]


def test_a_job_written_while_a_pass_decides_brings_the_next_pass_back(template: Path) -> None:
    """Between a pass's read and its write another server submits a job that can start: the
    pass's own count of job writes is then not the store's, and the next pass is a full one
    that binds the job (it is not taken for quiet on the pass's word)."""
    with center(template) as c:
        for _ in range(3):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(3)] == [False, False, True]
        _submit(c, "lane", 100)  # a full pass to come, during which another submit lands

        def meanwhile(session: Any, snapshot: Any) -> Any:
            _submit(c, "default", 100)  # its own transaction, committed before the pass writes
            return snapshot

        c.quiet.forget()
        scheduling.cycle(
            c.state.db, c.lease, c.now, PROFILE, parsed=c.parsed, quiet=c.quiet, site=meanwhile
        )
        assert not _pass(c)  # the new job's pass: it binds it
        with c.state.db.reader() as session:
            latest = select(JobRow.state).order_by(JobRow.created_at.desc()).limit(1)
            assert session.scalar(latest) == "scheduled"
