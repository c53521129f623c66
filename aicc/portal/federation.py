"""The operators' federation page (center admins): the peer sites with their last advert and
state, and what this site owes them, settled here with the same service call as
`POST /api/v1/federation/settlements/{id}/settle`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import RedirectResponse, Response

from aicc.portal.i18n import Message
from aicc.portal.page import OperatorPage, OperatorPostingPage, Page
from aicc.portal.rendering import PortalRoute
from aicc.services.common import ServiceError, utcnow
from aicc.services.federation import adverts, books

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")


def _page(
    page: Page, *, status: int = 200, error: Message | None = None, settled: str = ""
) -> Response:
    fed = page.state.settings.federation
    sites = adverts.list_sites(page.session, page.me.who, fed, utcnow()) if fed.site else []
    owed = books.list_settlements(page.session, page.me.who)
    return page.render(
        "federation.html",
        nav="federation",
        status=status,
        fed=fed,
        sites=sites,
        owed=owed,
        error=error,
        settled=settled,
    )


@router.get("/federation")
def federation_page(page: OperatorPage, settled: str = "") -> Response:
    return _page(page, settled=settled)


@router.post("/federation/settlements/{settlement_id}/settle")
def settle(
    page: OperatorPostingPage, settlement_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    refused = page.attempt(lambda: books.settle(page.session, page.me.who, settlement_id))
    if isinstance(refused, ServiceError):
        return _page(page, status=refused.status, error=Message.of(refused))
    return RedirectResponse(f"/center/federation?settled={settlement_id}", status_code=303)
