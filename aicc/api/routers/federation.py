"""Federation (docs/federation.md): peers push their adverts here; operators list the sites."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, PeerSite, SessionDep, StateDep
from aicc.api.schemas.federation import AdvertIn
from aicc.services.common import utcnow
from aicc.services.federation import adverts, books
from aicc.services.federation.views import AdvertReceived, Settlement, Site

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])


@router.post("/adverts", response_model=AdvertReceived)
def federation_adverts_push(body: AdvertIn, site: PeerSite, session: SessionDep) -> AdvertReceived:
    """A peer's advert (a signed request); the newest per site is kept with when it arrived."""
    now = utcnow()
    # as sent (checked, prices as decimal text), without the defaults of fields it left out
    adverts.store(session, site, body.model_dump(mode="json", exclude_unset=True), now)
    return AdvertReceived(site=site, received_at=now)


@router.get("/sites", response_model=schemas.Page[Site])
def federation_sites_list(
    who: CurrentUser, state: StateDep, session: SessionDep
) -> schemas.Page[Site]:
    """The peers with their last advert, its age and whether the site is up or lost."""
    found = adverts.list_sites(session, who, state.settings.federation, utcnow())
    return schemas.Page[Site](items=found)


@router.get("/settlements", response_model=schemas.Page[Settlement])
def federation_settlements_list(
    who: CurrentUser,
    session: SessionDep,
    site: Annotated[str | None, Query(max_length=40)] = None,
    state: Annotated[Literal["open", "settled"] | None, Query()] = None,
) -> schemas.Page[Settlement]:
    """What this site owes its peers, one row per job attempt that ran there."""
    found = books.list_settlements(session, who, site=site, state=state)
    return schemas.Page[Settlement](items=found)


@router.post("/settlements/{settlement_id}/settle", response_model=Settlement)
def federation_settlements_settle(
    settlement_id: Annotated[int, Path(ge=1, le=2**62)], who: CurrentUser, session: SessionDep
) -> Settlement:
    """Mark it paid, once: settling again is a 409."""
    return books.settle(session, who, settlement_id)
