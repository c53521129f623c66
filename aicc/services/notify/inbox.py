"""Each user's inbox: the events of the projects they belong to and their own, newest first,
with how many are unread. Only the caller's own inbox: another user's item is NotFound."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import NotFound, from_row, utcnow
from aicc.services.notify.views import Inbox, InboxItem
from aicc.store.tables.notify import NotifyEventRow, NotifyInboxRow

MAX_PAGE = 500


def unread(session: Session, who: Principal) -> int:
    query = select(func.count()).where(
        NotifyInboxRow.user_id == who.user_id, NotifyInboxRow.read_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def items(
    session: Session,
    who: Principal,
    *,
    unread_only: bool = False,
    limit: int = 100,
    cursor: str | None = None,
) -> Inbox:
    """A page of the inbox (`cursor`: the previous page's `next_cursor`)."""
    start = int(cursor or 0)
    query = (
        select(NotifyEventRow, NotifyInboxRow.read_at)
        .join(NotifyInboxRow, NotifyInboxRow.event_id == NotifyEventRow.id)
        .where(NotifyInboxRow.user_id == who.user_id)
        .order_by(NotifyInboxRow.at.desc(), NotifyEventRow.id.desc())
        .offset(start)
        .limit(min(limit, MAX_PAGE) + 1)
    )
    if unread_only:
        query = query.where(NotifyInboxRow.read_at.is_(None))
    rows = session.execute(query).all()
    page = [from_row(InboxItem, event, read=read_at is not None) for event, read_at in rows[:limit]]
    more = len(rows) > limit
    return Inbox(
        items=page, unread=unread(session, who), next_cursor=str(start + limit) if more else None
    )


def mark_read(session: Session, who: Principal, *, event_ids: list[str] | None = None) -> int:
    """Mark the given items read (all, when None); how many were unread. An id not in the
    caller's inbox is NotFound."""
    mine = (NotifyInboxRow.user_id == who.user_id, NotifyInboxRow.read_at.is_(None))
    statement = update(NotifyInboxRow).where(*mine).values(read_at=utcnow())
    if event_ids is not None:
        known = set(
            session.scalars(
                select(NotifyInboxRow.event_id).where(
                    NotifyInboxRow.user_id == who.user_id, NotifyInboxRow.event_id.in_(event_ids)
                )
            )
        )
        missing = [e for e in event_ids if e not in known]
        if missing:
            raise NotFound("inbox item {event_id} not found", event_id=missing[0])
        statement = statement.where(NotifyInboxRow.event_id.in_(event_ids))
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
