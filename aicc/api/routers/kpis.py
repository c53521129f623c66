"""Utilization KPIs and the Prometheus exposition (`/metrics`, operators only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.core import periods
from aicc.services.common import Forbidden, utcnow
from aicc.services.telemetry import kpis, metrics

router = APIRouter(tags=["utilization"])


@router.get("/api/v1/kpis/utilization")
def utilization(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    by: kpis.By = "pool",
    day: periods.BookDate | None = None,
    days: Annotated[int, Query(ge=1, le=92)] = 1,
) -> dict[str, Any]:
    """Allocation and busy rates per pool, accelerator model or organization, per day of the
    billing time zone (default: the last `days` days up to today). Busy rates are measured
    (NVML) or null. Center admins; org admins with `by=org` see their organization's row."""
    zone = state.settings.site.timezone
    now = utcnow()
    first = day or periods.day_of(now, zone) - timedelta(days=days - 1)
    rows = kpis.utilization(session, who, by=by, first=first, days=days, zone=zone, now=now)
    return {"items": rows, "next_cursor": None}


@router.get("/api/v1/kpis/idle")
def idle(who: CurrentUser, session: SessionDep) -> dict[str, Any]:
    """Running replicas whose devices were measured under 5% busy for the last 30 minutes."""
    return {"items": kpis.idle(session, who, now=utcnow()), "next_cursor": None}


@router.get("/metrics", include_in_schema=False)
def prometheus(who: CurrentUser, session: SessionDep) -> Response:
    """Prometheus text format; it carries tenant labels, so center admins' tokens only."""
    if not who.is_admin:
        raise Forbidden("/metrics is for the center's operators (an admin token)")
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(metrics.exposition(session, utcnow()), media_type=CONTENT_TYPE_LATEST)
