"""Federation (docs/federation.md): peers push their adverts here; operators list the sites."""

from __future__ import annotations

from fastapi import APIRouter

from aicc.api import schemas
from aicc.api.deps import CurrentUser, PeerSite, SessionDep, StateDep
from aicc.api.schemas.federation import AdvertIn, Received, Site
from aicc.services.common import Invalid, utcnow
from aicc.services.federation import adverts

router = APIRouter(prefix="/api/v1/federation", tags=["federation"])


@router.post("/adverts", response_model=Received)
def federation_adverts_push(body: AdvertIn, site: PeerSite, session: SessionDep) -> Received:
    """A peer's advert (a signed request); the newest per site is kept with when it arrived."""
    if body.site != site:
        raise Invalid(
            "site: the advert names {named} but site {site} signed it", named=body.site, site=site
        )
    now = utcnow()
    adverts.store(session, site, body.model_dump(mode="json"), now)
    return Received(site=site, received_at=now)


@router.get("/sites", response_model=schemas.Page[Site])
def federation_sites_list(
    who: CurrentUser, state: StateDep, session: SessionDep
) -> schemas.Page[Site]:
    """The peers with their last advert, its age and whether the site is up or lost."""
    found = adverts.list_sites(session, who, state.settings.federation, utcnow())
    return schemas.Page[Site](items=[Site(**vars(s)) for s in found])
