"""The dashboard (`/`) and the node page: what a person sees first."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from aicc.core.states import RUNNING, WAITING
from aicc.portal import billing, maintenance, quotas, views
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute, is_htmx

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/")
def dashboard(page: PageDep) -> Response:
    data = views.dashboard(page.session, page.me.who)
    chart = views.chart_data(data.counts, lambda s: page.t(f"state.{s}"))
    return page.render(
        "dashboard.html",
        nav="dashboard",
        data=data,
        chart=chart,
        waiting=WAITING,
        running=RUNNING,
        finished=views.FINISHED,
        spend=billing.month_spend(page.session, page.state, page.me),
        money=billing.money,
        quota=quotas.own_standing(page.session, page.me.who),
        duration_s=views.duration_s,
        maintenance_windows=maintenance.coming(page.session),  # what is coming (issue 40)
        **quotas.helpers(page.t),
    )


@router.get("/nodes")
def node_list(page: PageDep) -> Response:
    template = "_node_cards.html" if is_htmx(page.request) else "nodes.html"
    return page.render(template, nav="nodes", nodes=views.node_list(page.session))
