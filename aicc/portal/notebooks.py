"""The notebooks page: the signed-in person's notebooks (open, stop, start, delete) and a form
that creates one. Opening goes through the server's proxy (`notebook_proxy.py`); the services
decide what is whose (another person's notebook is a 404, as in the API)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.api import schemas
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Posted, Rejected, parse, service_call, text_input
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.jobs import notebooks
from aicc.services.jobs.jobs import SubmitLimits

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _page(
    page: Page, *, form: PageForm | None = None, status: int = 200, live: bool = False
) -> Response:
    rows = notebooks.list_notebooks(page.session, page.me.who)
    projects = page.own_projects()
    default_minutes = page.state.settings.notebooks.idle_timeout_s // 60
    return page.render(
        "_notebook_rows.html" if live else "notebooks.html",
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
        done=page.query("done"),
        name=page.query("name"),
    )


@router.get("/notebooks")
def notebook_list(page: PageDep) -> Response:
    return _page(page, live=bool(page.request.headers.get("HX-Request")))


class NewNotebook(Posted):
    """The notebook form, as typed."""

    name: str = text_input(100)
    cpu: str = text_input(20)
    memory: str = text_input(20)
    gpus: str = text_input(4)
    idle_minutes: str = text_input(10)
    datasets: str = text_input(2000)
    project: str = text_input(60)
    image: str = text_input(512)


@router.post("/notebooks")
def notebook_create(page: PostingPage, posted: Annotated[NewNotebook, Form()]) -> Response:
    form = PageForm("notebook", posted.typed())
    names = [d.strip() for d in posted.datasets.replace(",", " ").split() if d.strip()]
    minutes = posted.idle_minutes.strip()
    gpus = posted.gpus.strip()
    data = {
        "name": posted.name.strip(),
        "project": posted.project or None,
        "resources": {
            "cpu": posted.cpu.strip() or "1",
            "memory": posted.memory.strip() or "4Gi",
            "gpu": int(gpus) if gpus.isdigit() else gpus or 0,
        },
        "idle_timeout_s": int(float(minutes) * 60) if _number(minutes) else (minutes or None),
        "datasets": names or None,
        "image": posted.image.strip() or None,
    }
    try:
        body = parse(
            form, schemas.NotebookIn, data, {"idle_timeout_s": "idle_minutes", "resources": "cpu"}
        )
        with service_call(page.session, form):
            notebooks.create(
                page.session,
                page.me.who,
                name=body.name,
                project=body.project,
                resources=body.resources.model_dump(mode="json"),
                idle_timeout_s=body.idle_timeout_s,
                datasets=body.datasets,
                default_idle_timeout_s=page.state.settings.notebooks.idle_timeout_s,
                engines=page.state.executors,
                image=body.image,
                limits=SubmitLimits.of(page.state.settings),
            )
    except Rejected as refused:
        return _page(page, form=refused.form, status=refused.status)
    return RedirectResponse("/notebooks?" + urlencode({"done": "created", "name": body.name}), 303)


def _number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


@router.post("/notebooks/act")
def notebook_act(
    page: PostingPage,
    notebook: Annotated[str, Form(max_length=64)] = "",
    action: Annotated[str, Form(pattern=r"^(start|stop|delete)$")] = "start",
) -> Response:
    """Start, stop or delete one of the person's notebooks (another's: the 404 page)."""
    found = notebooks.get(page.session, page.me.who, notebook)
    if action == "start":
        limits = SubmitLimits.of(page.state.settings)
        notebooks.start(
            page.session, page.me.who, found.id, engines=page.state.executors, limits=limits
        )
    else:
        {"stop": notebooks.stop, "delete": notebooks.delete}[action](
            page.session, page.me.who, found.id
        )
    query = urlencode({"done": action, "name": found.name})
    return RedirectResponse(f"/notebooks?{query}", status_code=303)
