"""`emit`: an event, written in the caller's transaction (a transactional outbox), so an event
exists iff its cause committed; with it, one delivery per matching channel and one inbox item
per recipient. Nothing is sent here: the `notify` loop step sends what committed.

`key` makes an event once: emitting the same key again (a loop pass that repeats, a retried
transaction) writes nothing. An event's subject and body are English templates and their values
(`params`): stored filled in (what channels send, what the API answers) and, in the event's
`data["text"]`, as the templates and values, so that the portal says them in its reader's
language (`portal/i18n/notify.<language>.json`). Recipients are the
members of the event's project and its user; an organization's event without either goes to
the organization's admins. A channel matches
when it is the event's project's, or a recipient's own, and one of its patterns names the kind.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from aicc.services.common import new_id, utcnow
from aicc.services.tenancy import tenancy
from aicc.store.tables.base import table
from aicc.store.tables.notify import (
    NotifyChannelRow,
    NotifyDeliveryRow,
    NotifyEventRow,
    NotifyInboxRow,
)

# The key in `Session.info` of a transaction that wrote a delivery: once it commits, the
# deliveries' thread wakes (loops/notify.py; wired as changes.CHANGED is, in api/state.py).
EMITTED = "aicc.notify_emitted"

KINDS = (
    "job.failed",
    "job.succeeded",
    "job.waiting",
    "budget.threshold",
    "invoice.issued",
    "deployment.down",
    "quota.changed",
    "lease.started",
    "lease.ending",
    "lease.ended",
    "maintenance.scheduled",
    "maintenance.started",
    "maintenance.ended",
    "need.question",
    "need.answered",
    "need.offer",
    "need.offer_accepted",
    "challenge.joined",
    "challenge.invited",
    "challenge.scored",
    "challenge.failed",
    "challenge.closed",
    "challenge.awarded",
)
"""The kinds AICC emits today; a pattern (`job.*`, `lease.*`, `*`) may name kinds to come."""


def matches(patterns: Iterable[str], kind: str) -> bool:
    return any(fnmatch.fnmatchcase(kind, p) for p in patterns)


def _insert_new(session: Session, row: dict[str, Any]) -> bool:
    """Insert the event unless its key exists; whether it was new. No savepoint and no error
    that would spoil the caller's transaction when another one wrote the key first."""
    events = table(NotifyEventRow)
    statement: Any
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(events).on_conflict_do_nothing(index_elements=["key"])
    else:
        from sqlalchemy.dialects.sqlite import insert as lite_insert

        statement = lite_insert(events).on_conflict_do_nothing(index_elements=["key"])
    made = session.execute(statement.returning(events.c.id), row).scalar()
    return made is not None


def orgs_told(session: Session, *, kind: str, key: str) -> set[str]:
    """The organizations told an event whose kind and key match these LIKE patterns (`%`)."""
    query = select(NotifyEventRow.org_id).where(
        NotifyEventRow.kind.like(kind), NotifyEventRow.key.like(key)
    )
    return set(session.scalars(query))


@dataclass(frozen=True)
class Listener:
    """A channel that hears of a kind: whose it is (a project's, else a user's) and, for
    `job.waiting`, after how many minutes."""

    org_id: str
    project_id: str | None
    user_id: str | None
    wait_min: int


def heard(session: Session, kind: str) -> bool:
    """Whether any channel hears of `kind` (a read of the patterns alone: most centers' checks
    stop here)."""
    return any(matches(p, kind) for p in session.scalars(select(NotifyChannelRow.events)))


def listeners(session: Session, kind: str) -> list[Listener]:
    """The channels that hear of `kind`."""
    return [
        Listener(c.org_id, c.project_id, c.user_id, c.wait_min)
        for c in session.scalars(select(NotifyChannelRow))
        if matches(c.events, kind)
    ]


def told(key: ColumnElement[str]) -> Exists:
    """A clause true where an event with `key` was recorded: a caller's query filters on it
    (`~told(...)`) in one statement, the key made from its own columns."""
    return select(NotifyEventRow.id).where(NotifyEventRow.key == key).exists()


def recipients(
    session: Session, *, org_id: str, project_id: str | None, user_id: str | None
) -> set[str]:
    """Who sees the event in their inbox."""
    found: set[str] = set()
    if project_id is not None:
        found.update(tenancy.member_ids(session, project_id))
    if user_id is not None:
        found.add(user_id)
    if not found:
        found.update(tenancy.org_admin_ids(session, org_id))
    return found


def emit(
    session: Session,
    kind: str,
    *,
    org_id: str,
    project_id: str | None = None,
    user_id: str | None = None,
    subject: str,
    body: str,
    params: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    key: str | None = None,
) -> str | None:
    """Write the event in the caller's transaction; its id, or None when `key` was emitted
    before. Never blocks on the network and never raises on a repeat. `subject` and `body` are
    templates of `params` (`"job {name} {state}"`); without `params`, plain text."""
    now = utcnow()
    event_id = new_id("nev")
    data = dict(data or {})
    if params is not None:
        values = {k: v if isinstance(v, int | float) else str(v) for k, v in params.items()}
        data["text"] = {"subject": subject, "body": body, "params": values}
        subject, body = subject.format(**values), body.format(**values)
    row = {
        "id": event_id,
        "key": (key or f"{kind}:{event_id}")[:255],
        "kind": kind,
        "org_id": org_id,
        "project_id": project_id,
        "user_id": user_id,
        "subject": subject[:255],
        "body": body,
        "data": data,
        "at": now,
    }
    if not _insert_new(session, row):
        return None
    users = recipients(session, org_id=org_id, project_id=project_id, user_id=user_id)
    if users:
        inbox = [{"user_id": u, "event_id": event_id, "at": now, "read_at": None} for u in users]
        session.execute(table(NotifyInboxRow).insert(), inbox)
    channels = _channels(session, kind, org_id, project_id, users, data)
    if channels:
        session.execute(
            table(NotifyDeliveryRow).insert(),
            [_delivery(event_id, c, now) for c in channels],
        )
        session.info[EMITTED] = True
    return event_id


def _channels(
    session: Session,
    kind: str,
    org_id: str,
    project_id: str | None,
    users: set[str],
    data: dict[str, Any],
) -> list[NotifyChannelRow]:
    owners: list[ColumnElement[bool]] = [NotifyChannelRow.user_id.in_(users)] if users else []
    if project_id is not None:
        owners.append(NotifyChannelRow.project_id == project_id)
    if not owners:
        return []
    query = select(NotifyChannelRow).where(NotifyChannelRow.org_id == org_id, or_(*owners))
    found = []
    for channel in session.scalars(query):
        if not matches(channel.events, kind):
            continue
        if kind == "job.waiting" and data.get("after_min") != channel.wait_min:
            continue  # each channel hears of a waiting job after its own minutes
        found.append(channel)
    return found


def _delivery(event_id: str, channel: NotifyChannelRow, now: Any) -> dict[str, Any]:
    return {
        "id": new_id("ndl"),
        "event_id": event_id,
        "channel_id": channel.id,
        "channel_kind": channel.kind,
        "state": "pending",
        "attempts": 0,
        "next_at": now,
        "claimed_by": None,
        "last_error": "",
        "created_at": now,
        "delivered_at": None,
        "latency_s": None,
    }
