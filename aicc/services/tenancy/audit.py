"""The audit log: who did what to which object. Written in the same transaction as the change.

The log is a keyed hash chain, so an entry changed, removed or slipped in afterwards shows: the
leader seals committed entries in the order it finds them (`seal`), giving each the next `seq`
and `hash` = HMAC(server key, previous hash + the entry's content); `verify` walks the chain
again. Sealing after the commit, not in the writing transaction, keeps concurrent writers from
waiting on one another (or forking the chain); an entry stays `pending` for a pass or so. The
key (`secret.key`, outside the database) means whoever can write the database alone cannot
forge a chain that verifies.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role
from aicc.services.common import Forbidden, utcnow
from aicc.services.tenancy.views import AuditEntry, AuditVerification
from aicc.store import group_commit
from aicc.store.sealing import Sealer
from aicc.store.tables.base import table
from aicc.store.tables.tenancy import AuditRow

GENESIS = "0" * 64  # what the first entry's hash follows
BATCH = 5_000  # entries sealed, or verified, per read


def record(
    session: Session,
    who: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    *,
    org_id: str | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    entry = {
        "at": now or utcnow(),
        "user_id": who.user_id if who else None,
        "user_name": who.name if who else "system",
        "org_id": org_id if org_id is not None else (who.org_id if who else None),
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "detail": detail or {},
    }
    # A statement, not an object for the unit of work (cheaper on every mutating call), and
    # without flushing the caller's pending rows first: the entry references none of them. In a
    # batch of submits (the API's group commit), with the batch's other entries before it commits.
    with session.no_autoflush:
        group_commit.insert(session, _INSERT, entry)


_INSERT = insert(table(AuditRow))


def entries(
    session: Session,
    who: Principal,
    *,
    limit: int,
    before_id: int | None,
    action: str | None,
    actor: str | None = None,
) -> list[AuditEntry]:
    """Newest first. Admins read the center's log, org admins their organization's.
    `actor` is a user name, as the entry recorded it."""
    query = _readable(who).order_by(AuditRow.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditRow.id < before_id)
    if action:
        query = query.where(AuditRow.action == action)
    if actor:
        query = query.where(AuditRow.user_name == actor)
    return [AuditEntry.model_validate(row, from_attributes=True) for row in session.scalars(query)]


def last_at(session: Session, *, action: str, object_type: str, object_id: str) -> datetime | None:
    """When `action` was last recorded on the object (None: never)."""
    return session.scalar(
        select(func.max(AuditRow.at)).where(
            AuditRow.action == action,
            AuditRow.object_type == object_type,
            AuditRow.object_id == object_id,
        )
    )


def last_actor(session: Session, *, action: str, object_id: str) -> str | None:
    """The user who last recorded `action` on the object (None: nobody, or the system)."""
    query = (
        select(AuditRow.user_id)
        .where(AuditRow.action == action, AuditRow.object_id == object_id)
        .order_by(AuditRow.at.desc())
    )
    return session.scalar(query.limit(1))


def actions(session: Session, who: Principal) -> list[str]:
    """The distinct actions in the part of the log `who` may read (for a filter's choices)."""
    query = _readable(who).with_only_columns(AuditRow.action).distinct().order_by(AuditRow.action)
    return list(session.scalars(query))


def _readable(who: Principal) -> Select[AuditRow]:
    if who.role not in (Role.ADMIN, Role.ORG_ADMIN):
        raise Forbidden("only admins read the audit log")
    query = select(AuditRow)
    return query if who.is_admin else query.where(AuditRow.org_id == who.org_id)


# --- the hash chain ---


def _content(row: AuditRow) -> str:
    """An entry as the chain covers it: every column but the row id, in one canonical form."""
    at = row.at if row.at.tzinfo is not None else row.at.replace(tzinfo=UTC)
    fields = {
        "seq": row.seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "user_id": row.user_id,
        "user_name": row.user_name,
        "org_id": row.org_id,
        "action": row.action,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "detail": row.detail,
        "client": row.client,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _link(sealer: Sealer, previous: str, row: AuditRow) -> str:
    return sealer.mac(f"aicc-audit\n{previous}\n{_content(row)}")


def seal(session: Session, sealer: Sealer) -> int:
    """Chain the committed entries not sealed yet, oldest id first: each gets the next `seq`
    and its `hash`. The leader calls it after each pass (fenced); returns how many."""
    last = session.execute(
        select(AuditRow.seq, AuditRow.hash)
        .where(AuditRow.seq.is_not(None))
        .order_by(AuditRow.seq.desc())
        .limit(1)
    ).first()
    seq: int = (last[0] or 0) if last is not None else 0
    previous: str = last[1] if last is not None and last[1] else GENESIS
    rows = session.scalars(
        select(AuditRow).where(AuditRow.seq.is_(None)).order_by(AuditRow.id).limit(BATCH)
    ).all()
    for row in rows:
        seq += 1
        row.seq = seq
        row.hash = previous = _link(sealer, previous, row)
    return len(rows)


def unsealed(session: Session) -> int:
    """Entries committed and not sealed yet (the leader seals them within a pass or so)."""
    query = select(func.count()).select_from(AuditRow).where(AuditRow.seq.is_(None))
    return session.scalar(query) or 0


def verify(session: Session, who: Principal, sealer: Sealer) -> AuditVerification:
    """Walk the whole chain (center admins): every `seq` from 1 on, none missing, each hash
    what the entry and its predecessor give."""
    if not who.is_admin:
        raise Forbidden("only the center's admins verify the audit log")
    previous, verified, reason = GENESIS, 0, None
    while reason is None:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.seq > verified).order_by(AuditRow.seq).limit(BATCH)
        ).all()
        for row in rows:
            if row.seq != verified + 1:
                reason = f"entry {verified + 1} is missing"
            elif row.hash != _link(sealer, previous, row):
                reason = f"entry {row.seq} (audit id {row.id}) does not match its hash"
            if reason is not None:
                break
            previous, verified = row.hash or "", verified + 1
        if len(rows) < BATCH:
            break
    return AuditVerification(
        intact=reason is None,
        verified=verified,
        pending=unsealed(session),
        broken_at=verified + 1 if reason is not None else None,
        reason=reason,
        last_seq=verified or None,
        last_hash=previous if verified else None,
    )
