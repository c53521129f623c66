"""The audit log, for admins (everything) and org admins (their organization)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.services.tenancy import audit, views

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


# Declared as the generic page, so the OpenAPI document keeps its `Page_AuditEntry_` component.
@router.get("", response_model=schemas.Page[views.AuditEntry])
def audit_list(
    who: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    action: str | None = None,
) -> views.AuditEntries:
    found = audit.entries(session, who, limit=limit, before_id=cursor, action=action)
    return views.AuditEntries(
        items=found, next_cursor=str(found[-1].id) if len(found) == limit else None
    )


@router.get("/verify", response_model=views.AuditVerification)
def audit_verify(who: CurrentUser, state: StateDep, session: SessionDep) -> views.AuditVerification:
    """Walk the hash chain (center admins): every entry present, each matching its hash."""
    return audit.verify(session, who, state.sealer)
