"""Leases: center admins lease nodes or devices to an organization and end leases; the
lessee's members see theirs (another organization's lease is a 404)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.api.schemas.leases import LeaseIn
from aicc.core import periods
from aicc.services.common import utcnow
from aicc.services.jobs import leased
from aicc.services.leases import leases, sla
from aicc.services.leases.views import Lease, SlaReport

router = APIRouter(prefix="/api/v1", tags=["leases"])


@router.get("/leases", response_model=schemas.Page[Lease])
def leases_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    """Every lease for center admins, an organization's own for its members."""
    found = paging.cut(leases.listing(session, who, now=utcnow()))
    return {**found, "items": leased.shown(session, found["items"])}  # a page: its own


@router.post("/leases", response_model=Lease, status_code=201)
def leases_create(body: LeaseIn, who: CurrentUser, session: SessionDep) -> Lease:
    ask = leases.Ask(lends=body.lend, **body.model_dump(exclude={"lend"}))
    return leased.show(session, leases.create(session, who, ask, now=utcnow()))


@router.get("/leases/{lease_id}", response_model=Lease)
def leases_get(lease_id: str, who: CurrentUser, session: SessionDep) -> Lease:
    return leased.show(session, leases.get(session, who, lease_id, now=utcnow()))


@router.post("/leases/{lease_id}/end", response_model=Lease)
def leases_end(lease_id: str, who: CurrentUser, session: SessionDep) -> Lease:
    """End a lease now (center admins)."""
    return leased.show(session, leases.end(session, who, lease_id, now=utcnow()))


@router.get("/leases/{lease_id}/report", response_model=SlaReport)
def leases_report(
    lease_id: str,
    who: CurrentUser,
    session: SessionDep,
    state: StateDep,
    month: str | None = Query(default=None, description="YYYY-MM; this month when left out"),
) -> SlaReport:
    """The lease's SLA report of a month: availability, incidents, the service credit
    (the lessee's members and center admins)."""
    settings = state.settings
    now = utcnow()
    return sla.report(
        session,
        who,
        lease_id,
        month or periods.month_of(now, settings.site.timezone),
        zone=settings.site.timezone,
        default=settings.pricing,
        now=now,
        terms=sla.Terms.of(settings),
    )
