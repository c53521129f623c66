"""The site's power cap (demand response, docs/green.md): read it, set one for a window, clear
events, and the OpenADR events the VEN answered (docs/energy.md). Center admins only; every
change is audited."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.schemas.power import PowerCapEventIn
from aicc.services.center import demand, power, views
from aicc.services.common import Forbidden, Invalid, utcnow

router = APIRouter(prefix="/api/v1/center/power-cap", tags=["center"])


def _admin(who: CurrentUser) -> None:
    if not who.is_admin:
        raise Forbidden("only center admins see and set the site's power cap")


@router.get("", response_model=views.PowerStatus)
def power_cap_show(who: CurrentUser, state: StateDep, session: SessionDep) -> views.PowerStatus:
    """The estimated facility power now, the cap in force, and the events."""
    _admin(who)
    return state.controller.site.reading(session).status(utcnow())


@router.get("/openadr", response_model=views.DemandEvents)
def power_cap_openadr(who: CurrentUser, state: StateDep, session: SessionDep) -> views.DemandEvents:
    """The OpenADR events the VEN received: each event's signals and the caps it asks for,
    AICC's answer and why, the cap in force while it holds, and the shed the VEN reported."""
    standing = state.controller.site.standing_kw
    return demand.listing(session, who, standing_kw=standing, now=utcnow())


@router.post("/events", status_code=201, response_model=views.PowerCapEvent)
def power_cap_set(
    body: PowerCapEventIn, who: CurrentUser, session: SessionDep
) -> views.PowerCapEvent:
    """A cap from `start` (default now) until `end` or for `duration_s`. The scheduler holds
    new starts under it; running jobs are not stopped."""
    _admin(who)
    now = utcnow()
    if (body.end is None) == (body.duration_s is None):
        raise Invalid("until: give the end of the window, or its duration (for)")
    start = body.start or now
    try:
        end = body.end or start + timedelta(seconds=body.duration_s or 0)
    except OverflowError:
        raise Invalid("until: the window ends past the year 9999; give a shorter one") from None
    event = power.add_event(session, who, body.cap_kw, start, end, body.note, now=now)
    return views.PowerCapEvent.of(event, utcnow())


@router.delete("/events/{event_id}", status_code=204, response_model=None)
def power_cap_clear(event_id: str, who: CurrentUser, session: SessionDep) -> Response:
    """End an event now: its cap no longer holds (the standing cap, a setting, stays)."""
    _admin(who)
    power.clear(session, who, event_id)
    return Response(status_code=204)
