"""What the `notify` step writes: it claims due deliveries (`claim`, committed before any
send), sends them outside any transaction, then records each outcome (`record`).

Exactly once where it can be: a delivery committed `delivered` is never sent again. One cut
mid-send (the server killed between its claim and its record) is left `sending`: the next
claim takes it back and sends it again (at least once), with
the same delivery id in `Message-ID` / `X-AICC-Delivery`, so a receiver drops the repeat.
Failures are retried after `backoff_s`, twice that, ... up to `backoff_max_s`, and after
`max_attempts` the delivery is `failed` with its last error; a channel's test message is tried
once.

Fair between tenants: a claim takes at most `per_org` sends in flight of one organization, the
organization waiting longest first, so one tenant's receiver that never answers holds that
tenant's share of the senders and no more; the others' deliveries go on beside it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aicc.services.common import from_row, read
from aicc.services.notify import formats
from aicc.services.notify.senders import Outgoing
from aicc.services.notify.views import Delivery
from aicc.store.sealing import Sealer
from aicc.store.tables.notify import NotifyChannelRow, NotifyDeliveryRow, NotifyEventRow


@dataclass(frozen=True)
class Policy:
    """When a failed delivery is tried again, and how often at most."""

    backoff_s: float = 10.0
    backoff_max_s: float = 600.0
    max_attempts: int = 8
    batch: int = 20  # claimed at most at once
    per_org: int = 8  # sends of one organization in flight at most

    def delay(self, attempts: int) -> timedelta:
        """After the `attempts`-th failure: backoff_s, 2x, 4x ... capped."""
        return timedelta(
            seconds=min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)
        )


TEST = "test"  # the kind of a channel's test message (`channels.queue_test`): tried once


def due(session: Session, *, now: datetime, busy: Mapping[str, str] | None = None) -> bool:
    """Whether a pass has anything to claim (a read, so most passes write nothing). `busy`:
    the deliveries this holder is sending now (id to organization), not stale."""
    pending = select(NotifyDeliveryRow.id).where(
        NotifyDeliveryRow.state == "pending", NotifyDeliveryRow.next_at <= now
    )
    stale = select(NotifyDeliveryRow.id).where(NotifyDeliveryRow.state == "sending")
    if busy:
        stale = stale.where(NotifyDeliveryRow.id.not_in(list(busy)))
    return session.execute(pending.limit(1)).first() is not None or (
        session.execute(stale.limit(1)).first() is not None
    )


def claim(
    session: Session,
    sealer: Sealer,
    *,
    holder: str,
    now: datetime,
    policy: Policy,
    busy: Mapping[str, str] | None = None,
    room: int | None = None,
) -> list[tuple[str, Outgoing]]:
    """Take back what is left `sending` but not in `busy` (a former leader's, or a send of
    ours that ended before it recorded), then claim due deliveries for `holder`: at most
    `room` (and `policy.batch`), and per organization at most `policy.per_org` counting its
    `busy` ones, the organization whose oldest is due longest first. Each is `sending` once
    this commits. A delivery whose channel is gone fails here."""
    busy = busy or {}
    back = update(NotifyDeliveryRow).where(NotifyDeliveryRow.state == "sending")
    if busy:
        back = back.where(NotifyDeliveryRow.id.not_in(list(busy)))
    session.execute(back.values(state="pending", next_at=now, claimed_by=None))
    most = policy.batch if room is None else min(room, policy.batch)
    sending = Counter(busy.values())
    due_at = func.min(NotifyDeliveryRow.next_at)
    waiting = (
        select(NotifyEventRow.org_id)
        .join(NotifyDeliveryRow, NotifyDeliveryRow.event_id == NotifyEventRow.id)
        .where(NotifyDeliveryRow.state == "pending", NotifyDeliveryRow.next_at <= now)
        .group_by(NotifyEventRow.org_id)
        .order_by(due_at)
    )
    claimed: list[tuple[str, Outgoing]] = []
    for org_id in session.scalars(waiting):
        take = min(policy.per_org - sending[org_id], most - len(claimed))
        if take > 0:
            claimed += _claim_of(session, sealer, org_id, take, holder=holder, now=now)
        if len(claimed) >= most:
            break
    return claimed


def _claim_of(
    session: Session, sealer: Sealer, org_id: str, most: int, *, holder: str, now: datetime
) -> list[tuple[str, Outgoing]]:
    query = (
        select(NotifyDeliveryRow, NotifyEventRow, NotifyChannelRow)
        .join(NotifyEventRow, NotifyEventRow.id == NotifyDeliveryRow.event_id)
        .outerjoin(NotifyChannelRow, NotifyChannelRow.id == NotifyDeliveryRow.channel_id)
        .where(
            NotifyDeliveryRow.state == "pending",
            NotifyDeliveryRow.next_at <= now,
            NotifyEventRow.org_id == org_id,
        )
        .order_by(NotifyDeliveryRow.next_at)
        .limit(most)
        .with_for_update(of=NotifyDeliveryRow, skip_locked=True)
    )
    claimed = []
    for row, event, channel in session.execute(query).all():
        if channel is None:
            row.state, row.last_error = "failed", "the channel was deleted"
            continue
        row.state, row.claimed_by, row.attempts = "sending", holder, row.attempts + 1
        message = read(formats.Message, event, delivery_id=row.id, event_id=event.id)
        secret = sealer.open(channel.secret) if channel.secret else None
        claimed.append((row.id, Outgoing(channel.kind, channel.target, secret, message)))
    return claimed


def record(
    session: Session,
    delivery_id: str,
    *,
    holder: str,
    error: str | None,
    now: datetime,
    policy: Policy,
) -> None:
    """The outcome of one send: `delivered`, or retried after the backoff, or `failed`. Only
    while `holder` still holds it (a successor that took it back decides instead)."""
    row = session.get(NotifyDeliveryRow, delivery_id)
    if row is None or row.state != "sending" or row.claimed_by != holder:
        return
    row.claimed_by = None
    event = session.execute(
        select(NotifyEventRow.at, NotifyEventRow.kind).where(NotifyEventRow.id == row.event_id)
    ).first()
    if error is None:
        row.state, row.delivered_at, row.last_error = "delivered", now, ""
        row.latency_s = (now - event.at).total_seconds() if event is not None else None
    elif row.attempts >= policy.max_attempts or (event is not None and event.kind == TEST):
        row.state, row.last_error = "failed", error
    else:
        row.state, row.last_error = "pending", error
        row.next_at = now + policy.delay(row.attempts)


def of_event(session: Session, event_id: str) -> list[Delivery]:
    """How an event's deliveries went (for tests and the portal)."""
    query = select(NotifyDeliveryRow).where(NotifyDeliveryRow.event_id == event_id)
    return [
        from_row(Delivery, r) for r in session.scalars(query.order_by(NotifyDeliveryRow.created_at))
    ]
