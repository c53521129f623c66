"""Maintenance windows: center admins announce and cancel them; every tenant lists them."""

from __future__ import annotations

from fastapi import APIRouter

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.schemas.maintenance import MaintenanceIn
from aicc.services.common import utcnow
from aicc.services.jobs import windows_told
from aicc.services.nodes import maintenance
from aicc.services.nodes.views import MaintenanceWindow

router = APIRouter(prefix="/api/v1", tags=["maintenance"])


@router.get("/maintenance", response_model=schemas.Page[MaintenanceWindow])
def maintenance_list(
    who: CurrentUser, session: SessionDep, paging: PageArgs, past: bool = False
) -> dict[str, object]:
    """Windows to come and going on (`past`: ended and cancelled ones too), by start."""
    return paging.cut(maintenance.listing(session, now=utcnow(), past=past))


@router.post("/maintenance", response_model=MaintenanceWindow, status_code=201)
def maintenance_create(
    body: MaintenanceIn, who: CurrentUser, session: SessionDep
) -> MaintenanceWindow:
    """Announce a window (center admins); the organizations it touches are told."""
    window = maintenance.create(session, who, now=utcnow(), **body.model_dump())
    session.flush()
    windows_told.announce(session, window.id)
    return window


@router.get("/maintenance/{window_id}", response_model=MaintenanceWindow)
def maintenance_get(window_id: str, who: CurrentUser, session: SessionDep) -> MaintenanceWindow:
    return maintenance.get(session, window_id)


@router.post("/maintenance/{window_id}/cancel", response_model=MaintenanceWindow)
def maintenance_cancel(
    window_id: str, who: CurrentUser, state: StateDep, session: SessionDep
) -> MaintenanceWindow:
    """Call a window off (center admins); one going on gives its nodes back now."""
    burn_in = state.settings.nodes.burn_in.enabled
    return maintenance.cancel(session, who, window_id, now=utcnow(), burn_in=burn_in)
