"""The dashboard (`/`), the nodes' page and one node's page with its power curve: what a
person sees first."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from aicc.core.states import RUNNING, WAITING
from aicc.portal import billing, maintenance, quotas, views
from aicc.portal.page import PageDep
from aicc.portal.rendering import PortalRoute, is_htmx
from aicc.services.common import utcnow
from aicc.services.jobs import census
from aicc.services.nodes import nodes
from aicc.services.telemetry import samples

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


NODE_WINDOWS = (1, 6, 24, 168)  # hours a node's power curve covers (the page's tabs)


@router.get("/nodes/{name}")
def node_page(page: PageDep, name: str, hours: str = "") -> Response:
    """A node and its measured power over the window (every signed-in person, as `/nodes`
    and `GET /api/v1/nodes/{name}/power`); an unknown node is the 404 page."""
    window = int(hours) if hours.isdigit() and int(hours) in NODE_WINDOWS else 24
    node = nodes.get(page.session, name, used=census.allocations(page.session))
    curve = samples.power_curve(page.session, name, hours=window, now=utcnow())
    return page.render(
        "node.html",
        nav="nodes",
        node=node,
        curve=curve,
        windows=NODE_WINDOWS,
        chart=views.power_chart(curve, page.t),
    )
