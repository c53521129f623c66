"""The audit log: who did what to which object. Written in the same transaction as the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Role
from aicc.services.common import Forbidden, read, utcnow
from aicc.store.tables import AuditRow


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which object, and when."""

    id: int
    at: datetime
    user_id: str | None
    user_name: str
    org_id: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


def record(
    session: Session,
    who: Principal | None,
    action: str,
    object_type: str,
    object_id: str,
    *,
    org_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditRow(
            at=utcnow(),
            user_id=who.user_id if who else None,
            user_name=who.name if who else "system",
            org_id=org_id if org_id is not None else (who.org_id if who else None),
            action=action,
            object_type=object_type,
            object_id=object_id,
            detail=detail or {},
        )
    )


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
    return [read(AuditEntry, row) for row in session.scalars(query)]


def actions(session: Session, who: Principal) -> list[str]:
    """The distinct actions in the part of the log `who` may read (for a filter's choices)."""
    query = _readable(who).with_only_columns(AuditRow.action).distinct().order_by(AuditRow.action)
    return list(session.scalars(query))


def _readable(who: Principal) -> Select[AuditRow]:
    if who.role not in (Role.ADMIN, Role.ORG_ADMIN):
        raise Forbidden("only admins read the audit log")
    query = select(AuditRow)
    return query if who.is_admin else query.where(AuditRow.org_id == who.org_id)
