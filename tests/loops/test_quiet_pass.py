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
from aicc.services.serving import lifecycle
from aicc.services.tenancy import tenancy
from aicc.store.tables.jobs import JobRow, ReplicaRow
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.tenancy import ProjectRow, QueueRow
from aicc.testing.servers import admin, seeded

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
    seeded(home, None)  # the process's migrated copy, when an earlier test made it
    _app, state = build(Settings(home=home, sandbox="off"))
    _furnish(state, home)
    state.db.dispose()
    return home


def _furnish(state: Any, home: Path) -> None:
    with state.db.session() as session:
        who = admin(state, home)
        project = tenancy.resolve_project(session, who, None)
        for name, most in (("lane", 1), ("pair", 2)):
            tenancy.create_queue(session, who, project=project, name=name, max_running=most)
    _add_node(state, "n0")


@contextmanager
def center(template: Path) -> Iterator[Center]:
    """A fresh copy of the template's store, its lease held by the test."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(template, home)
        _app, state = build(Settings(home=home, sandbox="off"))
        try:
            yield _opened(state, home)
        finally:
            state.db.dispose()


@contextmanager
def built(home: Path, db_url: str | None) -> Iterator[Center]:
    """A store made afresh on `db_url` (SQLite or PostgreSQL), as the template is."""
    seeded(home, db_url)
    _app, state = build(Settings(home=home, db=db_url, sandbox="off"))
    try:
        _furnish(state, home)
        yield _opened(state, home)
    finally:
        state.db.dispose()


def _opened(state: Any, home: Path) -> Center:
    who = admin(state, home)
    with state.db.reader() as session:
        queues = {q.name: q.id for q in session.scalars(select(QueueRow))}
        project = tenancy.resolve_project(session, who, None).id
    lease = Lease(state.db, name="test", holder="test", ttl_s=30 * 86400)
    now = utcnow()
    assert lease.try_acquire(now)
    return Center(state, who, project, queues, lease, now)


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
    elif kind == "behind":  # one to three into a lane, most often full
        for _ in range(1 + n // 2 % 3):
            _submit(center, QUEUES[n % 2], 100 + 400 * (n % 4))
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


def _jobs(center: Center) -> dict[str, tuple[str, str]]:
    """Every job's state and message, as its owner sees them."""
    with center.state.db.reader() as session:
        rows = session.execute(select(JobRow.id, JobRow.state, JobRow.message))
        return {job_id: (state, message) for job_id, state, message in rows}


def _pass(center: Center) -> str:
    """One pass of the loop after a full pass's decisions were computed over the same state:
    where the loop skipped it ("quiet") or wrote only the waits of the jobs written since
    ("nearly"), the full pass binds nothing, and the loop's pass changed exactly the jobs whose
    waits the full pass would write, each to that wait. Returns which pass the loop took."""
    db, now = center.state.db, center.now
    with db.reader() as session:
        read = snapshots.read(session, now, protect=lifecycle.protected)
        assert (
            snapshots.read(session, now, protect=lifecycle.protected, parsed=center.parsed).snapshot
            == read.snapshot
        )
    full = schedule(read.snapshot, PROFILE)
    before = _jobs(center)
    skipped, nearly = center.quiet.skipped, center.quiet.nearly
    assert center.lease.try_acquire(now)
    scheduling.cycle(db, center.lease, now, PROFILE, parsed=center.parsed, quiet=center.quiet)
    if (center.quiet.skipped, center.quiet.nearly) == (skipped, nearly):
        return "full"
    waits = [d for d in full if isinstance(d, Wait)]
    assert len(waits) == len(full), "a pass not run in full would bind"
    after = _jobs(center)
    told = {w.job_id for w in waits if not shown_already(w, read.shown.get(w.job_id))}
    assert {j for j, shown in after.items() if before.get(j) != shown} == told
    for wait in waits:
        assert shown_already(wait, after.get(wait.job_id)), wait
    return "quiet" if center.quiet.skipped > skipped else "nearly"


EVENTS = st.tuples(
    st.sampled_from(
        [
            *("submit", "submit", "behind", "behind", "cancel", "end"),
            *("node", "cordon", "lane", "quota", "time"),
        ]
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
        for queue, jobs_in in (("lane", 4), ("pair", 3)):  # full lanes with jobs behind them
            for _ in range(jobs_in):
                _submit(c, queue, 100)
        for _ in range(3):  # told why
            _pass(c)
        taken: set[str] = set()
        for change in events:
            _apply(c, change)
            taken.add(_pass(c))
            taken.add(_pass(c))  # after one that wrote its waits: skipped if nothing else moved
        for path in ("quiet", "nearly"):  # --hypothesis-show-statistics
            event(f"a {path} pass taken" if path in taken else f"no {path} pass")


def test_a_long_queue_behind_a_full_lane_is_skipped_until_a_job_changes(template: Path) -> None:
    """The case the skip is for, step by step: it is taken once the waits are shown, and a
    submit, a new lease epoch or a job that can start each bring a full pass back."""
    with center(template) as c:
        for _ in range(6):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(4)] == [
            "full",
            "full",
            "quiet",
            "quiet",
        ]  # bound, told, quiet
        c.now += timedelta(hours=3)  # the time alone changes nothing behind a full lane
        _apply(c, ("node", 1))
        _apply(c, ("quota", 3))
        assert _pass(c) == "quiet"
        _submit(c, "default", 100)  # a job that can start: a full pass binds it
        assert [_pass(c) for _ in range(3)] == ["full", "full", "quiet"]
        with c.state.db.reader() as session:
            latest = select(JobRow.state).order_by(JobRow.created_at.desc()).limit(1)
            assert session.scalar(latest) == "scheduled"
        c.lease.release()  # another server may have led meanwhile: read in full
        assert c.lease.try_acquire(c.now)
        assert [_pass(c) for _ in range(2)] == ["full", "quiet"]
        # one more behind the lane: its wait alone is written, and that write is all that moved
        _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(2)] == ["nearly", "quiet"]
        _apply(c, ("lane", 4))  # the lane takes two now
        assert [_pass(c) for _ in range(3)] == ["full", "full", "quiet"]


def test_a_job_written_while_a_pass_decides_brings_the_next_pass_back(template: Path) -> None:
    """Between a pass's read and its write another server submits a job that can start: the
    pass's own count of job writes is then not the store's, and the next pass is a full one
    that binds the job (it is not taken for quiet on the pass's word)."""
    with center(template) as c:
        for _ in range(3):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(3)] == ["full", "full", "quiet"]
        _submit(c, "lane", 100)  # a full pass to come, during which another submit lands

        def meanwhile(session: Any, snapshot: Any) -> Any:
            _submit(c, "default", 100)  # its own transaction, committed before the pass writes
            return snapshot

        c.quiet.forget()
        scheduling.cycle(
            c.state.db, c.lease, c.now, PROFILE, parsed=c.parsed, quiet=c.quiet, site=meanwhile
        )
        assert _pass(c) == "full"  # the new job's pass: it binds it
        with c.state.db.reader() as session:
            latest = select(JobRow.state).order_by(JobRow.created_at.desc()).limit(1)
            assert session.scalar(latest) == "scheduled"


def test_submits_behind_a_full_lane_write_their_waits_alone(
    tmp_path: Path, db_url: str | None
) -> None:
    """The case the nearly quiet pass is for: jobs submitted behind a lane that already holds
    waiting jobs get its words from a pass that reads them alone; a job with room to start, a
    deferrable one or a cancel each bring a full pass back. On PostgreSQL the pass after one
    that wrote reads its own writes again, and finds them shown."""
    with built(tmp_path / "home", db_url) as c:
        again = ["nearly"] if c.state.db.dialect != "sqlite" else []
        for _ in range(4):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(3)] == ["full", "full", "quiet"]
        for _ in range(3):
            _submit(c, "lane", 100)
        assert [_pass(c) for _ in range(2 + len(again))] == ["nearly", *again, "quiet"]
        assert len(c.quiet.told) == 3
        waiting = [said for state, said in _jobs(c).values() if state in ("pending", "admitted")]
        assert len(waiting) == 6 and set(waiting) == {
            f"queue {c.queues['lane']} runs at most 1 jobs at once"
        }
        _submit(c, "pair", 100)  # a lane with room: a full pass binds it
        assert [_pass(c) for _ in range(3)] == ["full", "full", "quiet"]
        with c.state.db.reader() as session:
            latest = select(JobRow.state).order_by(JobRow.created_at.desc()).limit(1)
            assert session.scalar(latest) == "scheduled"
        deferrable = {"deferrable": True, "max_runtime": "1h", "deadline": "24h"}
        spec = JobSpec.model_validate({"command": "true", "queue": "lane", **deferrable})
        with c.state.db.session() as session:  # the green planner might hold it: read in full
            jobs.submit(session, c.who, spec, idempotency_key="green")
        assert [_pass(c) for _ in range(2)] == ["full", "full"]  # and no quiet pass after it
        _apply(c, ("cancel", 0))
        assert _pass(c) == "full"
