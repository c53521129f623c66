"""The dashboard (`/`) and the node page: what a person sees first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aicc.api.deps import SessionDep, StateDep
from aicc.core.states import RUNNING, WAITING
from aicc.portal import billing, quotas, views
from aicc.portal.auth import Me
from aicc.portal.i18n import Translator
from aicc.portal.rendering import PortalRoute, is_htmx, language_of, render

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/")
def dashboard(request: Request, state: StateDep, session: SessionDep, me: Me) -> Response:
    data = views.dashboard(session, me.who)
    t = Translator(language_of(request, me))
    chart = views.chart_data(data.counts, lambda s: t(f"state.{s}"))
    return render(
        request,
        "dashboard.html",
        me=me,
        nav="dashboard",
        data=data,
        chart=chart,
        waiting=WAITING,
        running=RUNNING,
        finished=views.FINISHED,
        spend=billing.month_spend(session, state, me),
        money=billing.money,
        quota=quotas.own_standing(session, me.who),
        duration_s=views.duration_s,
        **quotas.helpers(t),
    )


@router.get("/nodes")
def node_list(request: Request, session: SessionDep, me: Me) -> Response:
    template = "_node_cards.html" if is_htmx(request) else "nodes.html"
    return render(request, template, me=me, nav="nodes", nodes=views.node_list(session))
