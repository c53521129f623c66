"""The operators' federation page (center admins): the peer sites with their last advert and
state, and what this site owes them, settled here with the same service call as
`POST /api/v1/federation/settlements/{id}/settle`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api.deps import SessionDep, StateDep
from aicc.portal.auth import Operator, csrf_ok
from aicc.portal.i18n import Message
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.services.common import ServiceError, utcnow
from aicc.services.federation import adverts, books

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")


def _page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    me: Operator,
    *,
    status: int = 200,
    error: Message | None = None,
    settled: str = "",
) -> Response:
    fed = state.settings.federation
    sites = adverts.list_sites(session, me.who, fed, utcnow()) if fed.site else []
    owed = books.list_settlements(session, me.who)
    return render(
        request,
        "federation.html",
        me=me,
        nav="federation",
        status=status,
        fed=fed,
        sites=sites,
        owed=owed,
        error=error,
        settled=settled,
    )


@router.get("/federation")
def federation_page(
    request: Request, session: SessionDep, state: StateDep, me: Operator, settled: str = ""
) -> Response:
    return _page(request, session, state, me, settled=settled)


@router.post("/federation/settlements/{settlement_id}/settle")
def settle(
    request: Request,
    session: SessionDep,
    state: StateDep,
    me: Operator,
    settlement_id: Annotated[int, Path(ge=1, le=2**62)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    try:
        with session.begin_nested():
            books.settle(session, me.who, settlement_id)
    except ServiceError as err:
        if err.status == 404:
            raise
        return _page(request, session, state, me, status=err.status, error=Message.of(err))
    return RedirectResponse(f"/center/federation?settled={settlement_id}", status_code=303)
