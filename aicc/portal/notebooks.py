"""The notebooks page: the signed-in person's notebooks (open, stop, start, delete) and a form
that creates one. Opening goes through the server's proxy (`notebook_proxy.py`); the services
decide what is whose (another person's notebook is a 404, as in the API)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api import schemas
from aicc.api.deps import SessionDep, StateDep
from aicc.portal.auth import Me, csrf_ok
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Rejected, parse, service_call
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.services.jobs import notebooks
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _page(
    request: Request,
    session: SessionDep,
    state: StateDep,
    me: Me,
    *,
    form: PageForm | None = None,
    status: int = 200,
    live: bool = False,
) -> Response:
    rows = notebooks.list_notebooks(session, me.who)
    projects = [p for p in tenancy.list_projects(session, me.who) if p.org_id == me.who.org_id]
    default_minutes = state.settings.notebooks.idle_timeout_s // 60
    return render(
        request,
        "_notebook_rows.html" if live else "notebooks.html",
        me=me,
        nav="notebooks",
        status=status,
        notebooks=rows,
        waiting=any(n.state == "starting" for n in rows),
        projects=projects,
        form=form
        or PageForm(
            "notebook",
            {
                "cpu": "1",
                "memory": "4Gi",
                "gpus": "0",
                "idle_minutes": str(max(1, default_minutes)),
            },
        ),
        done=request.query_params.get("done", ""),
        name=request.query_params.get("name", ""),
    )


@router.get("/notebooks")
def notebook_list(request: Request, session: SessionDep, state: StateDep, me: Me) -> Response:
    return _page(request, session, state, me, live=bool(request.headers.get("HX-Request")))


@router.post("/notebooks")
def notebook_create(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    project: Annotated[str, Form(max_length=60)] = "",
    cpu: Annotated[str, Form(max_length=20)] = "",
    memory: Annotated[str, Form(max_length=20)] = "",
    gpus: Annotated[str, Form(max_length=4)] = "",
    idle_minutes: Annotated[str, Form(max_length=10)] = "",
    datasets: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    values = {"name": name, "cpu": cpu, "memory": memory, "gpus": gpus}
    values |= {"idle_minutes": idle_minutes, "datasets": datasets, "project": project}
    form = PageForm("notebook", values)
    names = [d.strip() for d in datasets.replace(",", " ").split() if d.strip()]
    minutes = idle_minutes.strip()
    data = {
        "name": name.strip(),
        "project": project or None,
        "resources": {
            "cpu": cpu.strip() or "1",
            "memory": memory.strip() or "4Gi",
            "gpu": int(gpus) if gpus.strip().isdigit() else gpus.strip() or 0,
        },
        "idle_timeout_s": int(float(minutes) * 60) if _number(minutes) else (minutes or None),
        "datasets": names or None,
    }
    try:
        body = parse(
            form, schemas.NotebookIn, data, {"idle_timeout_s": "idle_minutes", "resources": "cpu"}
        )
        with service_call(session, form):
            notebooks.create(
                session,
                me.who,
                name=body.name,
                project=body.project,
                resources=body.resources.model_dump(mode="json"),
                idle_timeout_s=body.idle_timeout_s,
                datasets=body.datasets,
                default_idle_timeout_s=state.settings.notebooks.idle_timeout_s,
                engines=state.executors,
            )
    except Rejected as refused:
        return _page(request, session, state, me, form=refused.form, status=refused.status)
    return RedirectResponse("/notebooks?" + urlencode({"done": "created", "name": body.name}), 303)


def _number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


@router.post("/notebooks/act")
def notebook_act(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    notebook: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(pattern=r"^(start|stop|delete)$")] = "start",
) -> Response:
    """Start, stop or delete one of the person's notebooks (another's: the 404 page)."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    found = notebooks.get(session, me.who, notebook)
    if action == "start":
        notebooks.start(session, me.who, found.id, engines=state.executors)
    else:
        {"stop": notebooks.stop, "delete": notebooks.delete}[action](session, me.who, found.id)
    query = urlencode({"done": action, "name": found.name})
    return RedirectResponse(f"/notebooks?{query}", status_code=303)
