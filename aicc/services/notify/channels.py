"""Channels: a user's own (`project` absent) or a project's (its members with write access
manage it). Another tenant's channel, or another user's own, is NotFound. A channel's secret is
sealed and write-only: the read model says only whether one is set.

A test message is queued, never sent in the request (a receiver that never answers would hold
a server worker for `notify.timeout_s`): an event of kind `test` with one delivery, which the
deliveries' thread sends once like any other; an organization has at most
`notify.tests_per_org` of them waiting, past that TooMany (429)."""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_read, can_write
from aicc.services.common import Forbidden, Invalid, NotFound, TooMany, from_row, new_id, utcnow
from aicc.services.notify import delivery, events, targets
from aicc.services.notify.views import Channel, TestSent, TestState
from aicc.services.tenancy import audit, tenancy
from aicc.store.sealing import Sealer
from aicc.store.tables.notify import NotifyChannelRow, NotifyDeliveryRow, NotifyEventRow

KINDS = ("email", "webhook", "wecom", "dingtalk", "feishu")
PATTERN = re.compile(r"^(\*|[a-z]+(\.([a-z_]+|\*))?)$")
DEFAULT_EVENTS = ["job.failed", "job.succeeded", "budget.threshold", "invoice.issued",
                  "deployment.down", "quota.changed", "lease.*", "maintenance.*", "need.*",
                  "challenge.*"]  # fmt: skip


def check(
    kind: str, target: str, events: list[str], wait_min: int, private_hosts: Collection[str] = ()
) -> None:
    """Invalid naming the field to fix, or nothing. `private_hosts`: notify.private_hosts."""
    if kind not in KINDS:
        raise Invalid("kind: {kind!r} is not one of {kinds}", kind=kind, kinds=", ".join(KINDS))
    if kind == "email":
        targets.check_mail(target)
    else:
        targets.check_url(target, private_hosts)
    bad = [p for p in events if not PATTERN.match(p)]
    if bad or not events:
        raise Invalid(
            "events: {bad!r} are not event kinds or patterns (job.failed, job.*, *)",
            bad=bad or events,
        )
    if not 1 <= wait_min <= 7 * 24 * 60:
        raise Invalid("wait_min: {wait_min} is not between 1 and 10080 minutes", wait_min=wait_min)


def view(row: NotifyChannelRow) -> Channel:
    return from_row(Channel, row, has_secret=bool(row.secret))


def create(
    session: Session,
    who: Principal,
    *,
    sealer: Sealer,
    name: str,
    kind: str,
    target: str,
    project: str | None = None,
    secret: str | None = None,
    events: list[str] | None = None,
    wait_min: int = 30,
    private_hosts: Collection[str] = (),
) -> Channel:
    """A user's own channel, or with `project` the project's (members who write there)."""
    events = list(dict.fromkeys(events or DEFAULT_EVENTS))
    check(kind, target, events, wait_min, private_hosts)
    org_id = who.org_id
    project_id: str | None = None
    user_id: str | None = who.user_id
    if project is not None:
        prj = tenancy.resolve_project(session, who, project)
        if not can_write(who, org_id=prj.org_id, project_id=prj.id):
            raise Forbidden("viewers cannot add a project's channels")
        org_id, project_id, user_id = prj.org_id, prj.id, None
    now = utcnow()
    row = NotifyChannelRow(
        id=new_id("nch"),
        org_id=org_id,
        project_id=project_id,
        user_id=user_id,
        name=name,
        kind=kind,
        target=target,
        secret=sealer.seal(secret) if secret else None,
        events=events,
        wait_min=wait_min,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    audit.record(session, who, "notify.channel.create", "channel", row.id, org_id=org_id)
    return view(row)


def _visible(who: Principal, row: NotifyChannelRow) -> bool:
    if row.project_id is None:
        return row.user_id == who.user_id
    return can_read(who, org_id=row.org_id, project_id=row.project_id)


def _row(session: Session, who: Principal, channel_id: str) -> NotifyChannelRow:
    row = session.get(NotifyChannelRow, channel_id)
    if row is None or not _visible(who, row):
        raise NotFound("channel {channel_id} not found", channel_id=channel_id)
    return row


def _writable(session: Session, who: Principal, channel_id: str) -> NotifyChannelRow:
    row = _row(session, who, channel_id)
    if row.project_id is not None and not can_write(
        who, org_id=row.org_id, project_id=row.project_id
    ):
        raise Forbidden("viewers cannot change a project's channels")
    return row


def list_channels(session: Session, who: Principal, *, project: str | None = None) -> list[Channel]:
    """The caller's own channels and those of the projects they read (or of `project` only)."""
    query = select(NotifyChannelRow).order_by(NotifyChannelRow.created_at)
    if not who.is_admin:
        query = query.where(NotifyChannelRow.org_id == who.org_id)
    if project is not None:
        prj = tenancy.resolve_project(session, who, project)
        query = query.where(NotifyChannelRow.project_id == prj.id)
    else:
        query = query.where(
            or_(NotifyChannelRow.user_id == who.user_id, NotifyChannelRow.project_id.is_not(None))
        )
    return [view(r) for r in session.scalars(query) if _visible(who, r)]


def get(session: Session, who: Principal, channel_id: str) -> Channel:
    return view(_row(session, who, channel_id))


def update(
    session: Session,
    who: Principal,
    channel_id: str,
    *,
    sealer: Sealer,
    name: str | None = None,
    target: str | None = None,
    secret: str | None = None,
    events: list[str] | None = None,
    wait_min: int | None = None,
    private_hosts: Collection[str] = (),
) -> Channel:
    """Change what is given; a secret of "" removes it."""
    row = _writable(session, who, channel_id)
    new_events = list(dict.fromkeys(events)) if events is not None else list(row.events)
    check(row.kind, target or row.target, new_events, wait_min or row.wait_min, private_hosts)
    row.name = name or row.name
    row.target = target or row.target
    row.events = new_events
    row.wait_min = wait_min or row.wait_min
    if secret is not None:
        row.secret = sealer.seal(secret) if secret else None
    row.updated_at = utcnow()
    audit.record(session, who, "notify.channel.update", "channel", row.id, org_id=row.org_id)
    return view(row)


def delete(session: Session, who: Principal, channel_id: str) -> Channel:
    """Its deliveries stay (and count in /metrics); those not yet sent fail."""
    row = _writable(session, who, channel_id)
    gone = view(row)
    session.delete(row)
    audit.record(session, who, "notify.channel.delete", "channel", row.id, org_id=row.org_id)
    return gone


def too_many_tests(count: int) -> TooMany:
    """The 429 of an organization with `count` test messages waiting (queued here, or its
    requests waiting for their turn in the API, `api/gates.py`)."""
    return TooMany(
        "{count} test messages of your organization are still waiting to be sent; try again "
        "once they are",
        count=count,
    )


def queue_test(session: Session, who: Principal, channel_id: str, *, most: int) -> TestSent:
    """Queue a test message to the channel (its writers only); the deliveries' thread sends it
    once this commits. TooMany when the organization has `most` tests waiting already."""
    row = _writable(session, who, channel_id)
    waiting = session.scalar(
        select(func.count())
        .select_from(NotifyDeliveryRow)
        .join(NotifyEventRow, NotifyEventRow.id == NotifyDeliveryRow.event_id)
        .where(
            NotifyEventRow.org_id == row.org_id,
            NotifyEventRow.kind == delivery.TEST,
            NotifyDeliveryRow.state.in_(["pending", "sending"]),
        )
    )
    if (waiting or 0) >= most:
        raise too_many_tests(waiting or 0)
    now = utcnow()
    event = NotifyEventRow(
        id=new_id("nev"),
        kind=delivery.TEST,
        org_id=row.org_id,
        project_id=row.project_id,
        user_id=who.user_id,
        subject=f"AICC test message to channel {row.name}",
        body=f"{who.name} sent this to check the channel. No action is needed.",
        data={},
        at=now,
    )
    event.key = f"{delivery.TEST}:{event.id}"
    sent = NotifyDeliveryRow(
        id=new_id("ndl"),
        event_id=event.id,
        channel_id=row.id,
        channel_kind=row.kind,
        state="pending",
        attempts=0,
        next_at=now,
        claimed_by=None,
        last_error="",
        created_at=now,
        delivered_at=None,
        latency_s=None,
    )
    session.add(event)
    session.flush()  # the event before its delivery (a foreign key)
    session.add(sent)
    session.info[events.EMITTED] = True  # the deliveries' thread wakes once this commits
    return _tested(sent)


def test_result(session: Session, who: Principal, channel_id: str, test_id: str) -> TestSent:
    """How a test message went; one of another channel, or not a test, is NotFound."""
    _row(session, who, channel_id)
    found = session.execute(
        select(NotifyDeliveryRow)
        .join(NotifyEventRow, NotifyEventRow.id == NotifyDeliveryRow.event_id)
        .where(
            NotifyDeliveryRow.id == test_id,
            NotifyDeliveryRow.channel_id == channel_id,
            NotifyEventRow.kind == delivery.TEST,
        )
    ).scalar()
    if found is None:
        raise NotFound("test message {test_id} not found", test_id=test_id)
    return _tested(found)


def last_tests(session: Session, channel_ids: list[str]) -> dict[str, TestSent]:
    """The last test message of each of these channels (the caller's, already read), by
    channel."""
    if not channel_ids:
        return {}
    query = (
        select(NotifyDeliveryRow)
        .join(NotifyEventRow, NotifyEventRow.id == NotifyDeliveryRow.event_id)
        .where(NotifyDeliveryRow.channel_id.in_(channel_ids), NotifyEventRow.kind == delivery.TEST)
        .order_by(NotifyDeliveryRow.created_at, NotifyDeliveryRow.id)
    )
    return {row.channel_id or "": _tested(row) for row in session.scalars(query)}


STATES: dict[str, TestState] = {
    "pending": "queued",
    "sending": "sending",
    "delivered": "sent",
    "failed": "failed",
}


def _tested(row: NotifyDeliveryRow) -> TestSent:
    status = re.match(r"HTTP (\d{3})$", row.last_error or "")
    state = STATES[row.state]
    return TestSent(
        id=row.id,
        channel_id=row.channel_id or "",
        state=state,
        ok=state == "sent",
        status_code=int(status[1]) if status and state == "failed" else None,
        error=row.last_error if state == "failed" else "",
        created_at=row.created_at,
    )
