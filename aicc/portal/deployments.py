"""The deployments' pages: a project's deployments (`/deployments`) and a deployment
(`/deployments/{name}`) with its state, revisions, and buttons to stop, start and roll it back;
its live panel, playground and recent requests come from portal/model_apis.py. The services
decide who sees what: another tenant's deployment is the 404 page, a viewer's button the 403
page, as in the API."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api.deps import SessionDep, StateDep
from aicc.portal import model_apis
from aicc.portal.auth import Me, csrf_ok
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.services.serving import deployments

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

ACTIONS = ("stop", "start", "rollback")


@router.get("/deployments")
def deployment_list(
    request: Request, session: SessionDep, me: Me, project: str | None = None
) -> Response:
    found = deployments.list_deployments(session, me.who, project=project or None)
    return render(request, "deployments.html", me=me, nav="deployments", found=found)


@router.get("/deployments/{name}")
def deployment_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
) -> Response:
    found = deployments.get(session, me.who, name, project=project or None)  # another's: 404
    history = deployments.revisions(session, me.who, name, project=project or None)
    return render(
        request,
        "deployment.html",
        me=me,
        nav="deployments",
        d=found,
        revisions=history,
        done=request.query_params.get("done", ""),
        chat=model_apis.Chat(),
        **model_apis.context(session, state, me, name, found.project_id),
    )


@router.post("/deployments/{name}/{action}")
def deployment_action(
    request: Request,
    session: SessionDep,
    me: Me,
    name: str,
    action: str,
    project: str | None = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Stop, start or roll back (a viewer gets the 403 page), then the deployment's page."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    if action not in ACTIONS:
        return error_page(request, 404, "")
    where = project or None
    changed = {
        "stop": deployments.stop,
        "start": deployments.start,
        "rollback": deployments.rollback,
    }[action](session, me.who, name, project=where)
    query = urlencode({"project": changed.project_id, "done": action})
    return RedirectResponse(f"/deployments/{quote(changed.name)}?{query}", status_code=303)
