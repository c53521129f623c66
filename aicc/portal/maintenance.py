"""Maintenance windows in the portal: center admins announce and cancel them on the nodes page
(`/center/nodes`, which lists them and badges the nodes they touch); every tenant sees the ones
coming on the dashboard (`_maintenance.html`). The same service calls as
`api/routers/maintenance.py`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from aicc.portal.center import heat_map_page
from aicc.portal.i18n import Message
from aicc.portal.page import OperatorPostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.common import Invalid, ServiceError, utcnow
from aicc.services.jobs import windows_told
from aicc.services.nodes import maintenance
from aicc.services.nodes.views import MaintenanceWindow

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")

SCOPES = ("nodes", "rack", "pool")


def coming(session: Session) -> list[MaintenanceWindow]:
    """The windows to come and going on, for the dashboard's banner."""
    return maintenance.listing(session, now=utcnow())


def _when(text: str, name: str) -> datetime:
    """A `datetime-local` input's value (the browser's local time sent as is), read as UTC."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        if name == "from":
            raise Invalid("from: give a date and time (YYYY-MM-DD HH:MM, UTC)") from None
        raise Invalid("to: give a date and time (YYYY-MM-DD HH:MM, UTC)") from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _back(**flash: str) -> Response:
    return RedirectResponse(f"/center/nodes?{urlencode(flash)}#maintenance", status_code=303)


def _refused(page: OperatorPostingPage, refused: ServiceError) -> Response:
    """The nodes page again (where these forms are), saying why."""
    return heat_map_page(page, status=refused.status, error=Message.of(refused))


@router.post("/maintenance")
def maintenance_create(
    page: OperatorPostingPage,
    scope: Annotated[str, Form(max_length=10)] = "nodes",
    target: Annotated[str, Form(max_length=4000)] = "",
    starts: Annotated[str, Form(max_length=40)] = "",
    ends: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def act() -> MaintenanceWindow:
        if scope not in SCOPES:
            raise Invalid("name the nodes, a rack or a pool")
        names = [n.strip() for n in target.split(",") if n.strip()]
        window = maintenance.create(
            page.session,
            page.me.who,
            nodes=names if scope == "nodes" else (),
            rack=target.strip() if scope == "rack" else None,
            pool=target.strip() if scope == "pool" else None,
            starts_at=_when(starts, "from"),
            ends_at=_when(ends, "to"),
            reason=reason,
            now=utcnow(),
        )
        page.session.flush()
        windows_told.announce(page.session, window.id)
        return window

    done = page.attempt(act)
    if isinstance(done, ServiceError):
        return _refused(page, done)
    return _back(done="maintenance", node=", ".join(done.nodes))


@router.post("/maintenance/{window_id}/cancel")
def maintenance_cancel(page: OperatorPostingPage, window_id: str) -> Response:
    burn_in = page.state.settings.nodes.burn_in.enabled
    done = page.attempt(
        lambda: maintenance.cancel(
            page.session, page.me.who, window_id, now=utcnow(), burn_in=burn_in
        )
    )
    if isinstance(done, ServiceError):
        return _refused(page, done)
    return _back(done="maintenance_cancel", node=", ".join(done.nodes))
