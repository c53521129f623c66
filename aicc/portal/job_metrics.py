"""A job's training curves on its page: one ECharts line chart per metric from the job's
`metrics.jsonl` (`services.metrics`, as `GET /api/v1/jobs/{id}/metrics` reads it, with the
signed-in person's principal: another tenant's job is a 404 here as there). The panel is its own
fragment, polled while the job runs and left alone once it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.tenancy import Principal
from aicc.portal.auth import Me
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute
from aicc.services.common import Invalid, TooLarge
from aicc.services.jobs import metrics

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

POLL = "every 3s"
POINTS = 300  # per chart: a line this wide shows no more


@dataclass(frozen=True)
class Curve:
    name: str
    last: list[int | float]  # [step, value]
    low: float
    high: float
    chart: dict[str, Any]  # what portal.js draws: {"type": "steps", "name", "points"}


@dataclass(frozen=True)
class JobMetrics:
    job_id: str
    running: bool
    curves: list[Curve]
    thinned: bool


def job_metrics(
    session: Session, state: AppState, who: Principal, job_id: str, most: int = POINTS
) -> JobMetrics:
    try:
        found = metrics.curves(session, who, job_id, state.executors, most=most)
    except (Invalid, TooLarge):  # the guard refused the job's file: the page shows no curves
        return JobMetrics(job_id, False, [], False)
    curves = [
        Curve(
            name=name,
            last=points[-1],
            low=min(v for _, v in points),
            high=max(v for _, v in points),
            chart={"type": "steps", "name": name, "points": points},
        )
        for name, points in found.metrics.items()
        if points
    ]
    return JobMetrics(found.job_id, found.running, curves, found.thinned)


def context(session: Session, state: AppState, me: Me, job_id: str) -> dict[str, Any]:
    """What `_job_metrics.html` needs, for the job page and the panel's own poll."""
    return {"mx": job_metrics(session, state, me.who, job_id), "metrics_poll": POLL}


@router.get("/jobs/{job_id}/metrics")
def metrics_panel(page: PageDep, job_id: str) -> Response:
    return page.render("_job_metrics.html", **context(page.session, page.state, page.me, job_id))
