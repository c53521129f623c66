"""Utilization KPIs, the facility meters' measured PUE, and the Prometheus exposition (`/metrics`,
operators only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.core import periods
from aicc.services.billing import facility
from aicc.services.billing import views as billing_views
from aicc.services.center import power
from aicc.services.common import Forbidden, utcnow
from aicc.services.telemetry import kpis, metrics, views

router = APIRouter(tags=["utilization"])


@router.get(
    "/api/v1/kpis/utilization",
    response_model=views.Utilization,
    response_model_exclude_unset=True,  # a row names only its own group: pool, model or org
)
def kpis_utilization(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    by: kpis.By = "pool",
    day: periods.BookDate | None = None,
    days: Annotated[int, Query(ge=1, le=92)] = 1,
) -> views.Utilization:
    """Allocation and busy rates per pool, accelerator model or organization, per day of the
    billing time zone (default: the last `days` days up to today). Busy rates are measured
    (NVML) or null. Center admins; org admins with `by=org` see their organization's row."""
    zone = state.settings.site.timezone
    now = utcnow()
    first = day or periods.day_of(now, zone) - timedelta(days=days - 1)
    return kpis.utilization_page(session, who, by=by, first=first, days=days, zone=zone, now=now)


@router.get("/api/v1/kpis/idle", response_model=views.IdleReplicas)
def kpis_idle(who: CurrentUser, session: SessionDep) -> views.IdleReplicas:
    """Running replicas whose devices were measured under 5% busy for the last 30 minutes."""
    return kpis.idle_page(session, who, now=utcnow())


@router.get("/api/v1/kpis/pue", response_model=billing_views.Facility)
def kpis_pue(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24,
) -> billing_views.Facility:
    """The facility meters' PUE by closed clock hour (newest first) beside the configured PUE,
    gaps marked (null PUE and why), and each meter's last reading. Center admins only."""
    meters = [(m.name, m.role) for m in state.settings.meters]
    return facility.status(session, who, meters, utcnow(), hours, state.controller.site.pue_at)


@router.get("/metrics", include_in_schema=False, response_model=None)
def metrics_show(who: CurrentUser, state: StateDep, session: SessionDep) -> Response:
    """Prometheus text format; it carries tenant labels, so center admins' tokens only."""
    if not who.is_admin:
        raise Forbidden("/metrics is for the center's operators (an admin token)")
    from prometheus_client import CONTENT_TYPE_LATEST

    site = power.Collector(state.controller.site, session)
    now = utcnow()
    meters = [(m.name, m.role) for m in state.settings.meters]
    plant = facility.Collector(session, meters, state.controller.site.pue_at, now)
    extra = [state.gateway.stats, state.controller.metrics, state.http, state.s3, site, plant]
    body = metrics.exposition(session, now, extra=extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
