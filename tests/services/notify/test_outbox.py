"""The outbox on the store (SQLite and PostgreSQL): an event is written once per key in its
cause's transaction, with a delivery per matching channel and an inbox item per recipient;
`job.waiting` is told once per channel threshold; deliveries are claimed, retried after the
backoff, taken back from a holder cut mid-send (same delivery id), and fail after the last
attempt with its error."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from billing_support import fresh_store
from sqlalchemy import select, update

from aicc.core.pricing import PricePlan
from aicc.core.states import DeploymentState
from aicc.services.billing import budgets
from aicc.services.common import new_id, utcnow
from aicc.services.jobs import metering, waits_told
from aicc.services.notify import delivery, events
from aicc.services.serving import lifecycle
from aicc.store.db import Database
from aicc.store.sealing import Sealer
from aicc.store.tables.billing import BudgetRow
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.notify import (
    NotifyChannelRow,
    NotifyDeliveryRow,
    NotifyEventRow,
    NotifyInboxRow,
)
from aicc.store.tables.serving import DeploymentRow
from aicc.store.tables.tenancy import MembershipRow, OrgRow, ProjectRow, QueueRow, UserRow

SEALER = Sealer(base64.urlsafe_b64encode(b"k" * 32))
POLICY = delivery.Policy(backoff_s=10, backoff_max_s=15, max_attempts=3, batch=10)


@dataclass(frozen=True)
class Tenant:
    org_id: str
    user_id: str
    project_id: str
    queue_id: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One store per database for the module; each test makes a tenant of its own."""
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").create_database(f"notify{os.getpid()}")
    yield from fresh_store(tmp_path_factory.mktemp("outbox"), url)


def _tenant(db: Database) -> Tenant:
    now, name = utcnow(), new_id("org").lower()
    with db.session() as session:
        org = OrgRow(id=new_id("org"), name=name, created_at=now)
        project = ProjectRow(id=new_id("prj"), org_id=org.id, name="p", created_at=now)
        user = UserRow(
            id=new_id("usr"), name=name, org_id=org.id, role="member", created_at=now,
            default_project_id=project.id,
        )  # fmt: skip
        queue = QueueRow(id=new_id("que"), project_id=project.id, name="default", created_at=now)
        session.add_all([org, project])
        session.flush()
        session.add_all([user, queue])
        session.flush()
        session.add(MembershipRow(user_id=user.id, project_id=project.id))
    return Tenant(org.id, user.id, project.id, queue.id)


def _channel(
    db: Database, who: Tenant, *, events_: list[str], wait_min: int = 30, org: str = ""
) -> str:
    with db.session() as session:
        now = utcnow()
        row = NotifyChannelRow(
            id=new_id("nch"), org_id=org or who.org_id, project_id=None, user_id=who.user_id,
            name="c", kind="webhook", target="http://127.0.0.1:9/x", secret=SEALER.seal("s"),
            events=events_, wait_min=wait_min, created_by=who.user_id, created_at=now,
            updated_at=now,
        )  # fmt: skip
        session.add(row)
        return row.id


def _emit(db: Database, who: Tenant, kind: str, key: str) -> str | None:
    with db.session() as session:
        return events.emit(
            session, kind, org_id=who.org_id, project_id=who.project_id, user_id=who.user_id,
            subject="s", body="b", key=key,
        )  # fmt: skip


def test_an_event_is_written_once_per_key_with_its_deliveries_and_inbox(db: Database) -> None:
    who, other = _tenant(db), _tenant(db)
    mine = _channel(db, who, events_=["job.*"])
    _channel(db, who, events_=["budget.*"])  # another kind: not this event's
    _channel(db, who, events_=["*"], org=other.org_id)  # filed in another organization
    _channel(db, other, events_=["*"])  # another tenant's
    key = f"job.failed:{new_id('job')}:0"
    first = _emit(db, who, "job.failed", key)
    assert first is not None
    assert _emit(db, who, "job.failed", key) is None  # a repeated pass writes nothing
    with db.reader() as session:
        assert (
            len(list(session.scalars(select(NotifyEventRow).where(NotifyEventRow.key == key)))) == 1
        )
        (sent,) = session.scalars(
            select(NotifyDeliveryRow).where(NotifyDeliveryRow.event_id == first)
        )
        assert (sent.channel_id, sent.state) == (mine, "pending")
        (item,) = session.scalars(select(NotifyInboxRow).where(NotifyInboxRow.event_id == first))
        assert item.user_id == who.user_id and item.read_at is None


def test_job_waiting_is_told_once_per_channel_threshold(db: Database) -> None:
    who = _tenant(db)
    soon = _channel(db, who, events_=["job.waiting"], wait_min=5)
    later = _channel(db, who, events_=["job.*"], wait_min=60)
    long_ago = utcnow() - timedelta(minutes=10)
    with db.session() as session:
        session.add(
            JobRow(
                id=new_id("job"), name="stuck", org_id=who.org_id, project_id=who.project_id,
                queue_id=who.queue_id, user_id=who.user_id, kind="train", spec={"command": "x"},
                priority=100, state="pending", reason="submitted", created_at=long_ago,
                updated_at=long_ago,
            )
        )  # fmt: skip
    for _ in range(2):  # a second check finds it told already
        with db.session() as session:
            waits_told.check(session, now=utcnow())
    with db.reader() as session:
        (event,) = session.scalars(
            select(NotifyEventRow).where(NotifyEventRow.org_id == who.org_id)
        )
        assert event.kind == "job.waiting" and event.data["after_min"] == 5
        (sent,) = session.scalars(
            select(NotifyDeliveryRow).where(NotifyDeliveryRow.event_id == event.id)
        )
        assert sent.channel_id == soon != later  # the 60-minute channel waits its own hour


def test_a_deployment_down_and_a_budget_threshold_are_told_once(db: Database) -> None:
    """The other contexts' causes, through their one writers: a deployment's move to failed
    (`lifecycle.move`), a budget's threshold (`budgets.alert`, run twice)."""
    who = _tenant(db)
    _channel(db, who, events_=["deployment.*", "budget.threshold"])
    now = utcnow()
    with db.session() as session:
        row = DeploymentRow(
            id=new_id("dep"), project_id=who.project_id, name="chat", spec={}, state="pending",
            message="3 replicas in a row never became ready", created_by=who.user_id,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        lifecycle.move(row, DeploymentState.FAILED)
        session.add(
            BudgetRow(
                id=new_id("bud"), scope=who.project_id, org_id=who.org_id,
                project_id=who.project_id, limit="0.00", currency="CNY", thresholds=[0.5, 1.0],
                alerted={}, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    for _ in range(2):
        with db.session() as session:
            budgets.alert(
                session,
                running=metering.running(session),
                now=utcnow(),
                zone="Asia/Shanghai",
                default=PricePlan(name="c"),
            )
    with db.reader() as session:
        told = session.scalars(
            select(NotifyEventRow).where(NotifyEventRow.org_id == who.org_id)
        ).all()
        kinds = sorted(e.kind for e in told)
        assert kinds == ["budget.threshold", "budget.threshold", "deployment.down"]
        down = next(e for e in told if e.kind == "deployment.down")
        assert "never became ready" in down.body and down.project_id == who.project_id
        sent = session.scalars(
            select(NotifyDeliveryRow).where(NotifyDeliveryRow.event_id.in_([e.id for e in told]))
        ).all()
        assert len(sent) == 3


def test_claim_retry_take_back_and_fail(db: Database) -> None:
    who = _tenant(db)
    with db.session() as session:  # the other tests' deliveries: not this test's to send
        session.execute(update(NotifyDeliveryRow).values(state="delivered"))
    _channel(db, who, events_=["quota.changed"])
    _emit(db, who, "quota.changed", new_id("nev"))
    now = utcnow()

    def claim(holder: str, at: object) -> list[str]:
        with db.session() as session:
            got = delivery.claim(session, SEALER, holder=holder, now=at, policy=POLICY)  # type: ignore[arg-type]
        assert all(out.secret == "s" for _, out in got)  # opened for the send only
        return [d for d, _ in got]

    (one,) = claim("a", now)
    with db.session() as session:
        delivery.record(session, one, holder="a", error="HTTP 500", now=now, policy=POLICY)
    with db.reader() as session:
        assert not delivery.due(session, now=now + timedelta(seconds=9))
        assert delivery.due(session, now=now + timedelta(seconds=10))
    assert claim("a", now + timedelta(seconds=10)) == [one]
    # "a" is cut mid-send: the next leader takes it back, same id (at least once)
    assert claim("b", now + timedelta(seconds=11)) == [one]
    with db.session() as session:  # the old holder's late record changes nothing
        delivery.record(session, one, holder="a", error=None, now=now, policy=POLICY)
        delivery.record(session, one, holder="b", error="timed out", now=now, policy=POLICY)
    with db.reader() as session:
        row = session.get(NotifyDeliveryRow, one)
        assert row is not None
        assert (row.state, row.attempts, row.last_error) == ("failed", 3, "timed out")
        assert not delivery.due(session, now=now + timedelta(days=1))


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [POLICY.delay(n).total_seconds() for n in (1, 2, 3)] == [10, 15, 15]
    policy = delivery.Policy(backoff_s=10, backoff_max_s=600)
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
