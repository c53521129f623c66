"""The operators' pages (center admins only; anyone else gets 403): the center overview, the
device heat map with cordon, uncordon and drain, organizations and users, and the audit log.

Node actions call the same service functions as `api/routers/nodes.py`; creating tenants the
same as `api/routers/tenancy.py`, after the same request models check the input.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api import schemas
from aicc.api.deps import SessionDep, StateDep
from aicc.core.tenancy import OrgKind, Role
from aicc.core.topology import NodeState
from aicc.portal import center_views
from aicc.portal.auth import Operator, csrf_ok
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Rejected, blank_to_none, parse, service_call
from aicc.portal.i18n import Message, Translator
from aicc.portal.rendering import PortalRoute, error_page, is_htmx, language_of, render
from aicc.services.center import drains, overview
from aicc.services.common import ServiceError, utcnow
from aicc.services.nodes import nodes
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")

NODE_ACTIONS = ("cordon", "uncordon", "drain", "evict")


# --- overview ---


@router.get("")
def center_overview(
    request: Request, session: SessionDep, state: StateDep, me: Operator, hours: str = ""
) -> Response:
    window = int(hours) if hours.isdigit() else overview.DEFAULT_WINDOW
    data = overview.center(session, me.who, utcnow(), window)
    t = Translator(language_of(request, me))
    template = "_center_live.html" if is_htmx(request) else "center.html"
    return render(
        request,
        template,
        me=me,
        nav="center",
        data=data,
        windows=list(overview.WINDOWS),
        capacity_chart=center_views.capacity_chart(data, t),
        rate_chart=center_views.rate_chart(data, t),
        queue_chart=center_views.queue_chart(data, t),
        power=state.controller.site.reading(session),
    )


# --- the heat map and node actions ---


def _heat_map_page(
    request: Request,
    session: SessionDep,
    me: Operator,
    *,
    status: int = 200,
    error: Message | str = "",
) -> Response:
    template = "_heatmap.html" if is_htmx(request) else "heatmap.html"
    return render(
        request,
        template,
        me=me,
        nav="center_nodes",
        status=status,
        data=center_views.heat_map(session, me.who),
        error=error,
        done=request.query_params.get("done", ""),
        done_node=request.query_params.get("node", ""),
    )


@router.get("/nodes")
def heat_map(request: Request, session: SessionDep, me: Operator) -> Response:
    return _heat_map_page(request, session, me)


@router.post("/nodes/{name}/{action}")
def node_action(
    request: Request,
    session: SessionDep,
    me: Operator,
    name: str,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    if action not in NODE_ACTIONS:
        return error_page(request, 404, "")
    try:
        with session.begin_nested():
            if action == "cordon":
                nodes.set_state(
                    session, me.who, name, NodeState.CORDONED, "cordoned by an operator"
                )
            elif action == "uncordon":
                nodes.set_state(session, me.who, name, NodeState.READY)
            else:
                drains.drain(session, me.who, name, evict=action == "evict", now=utcnow())
    except ServiceError as err:
        if err.status == 404:
            raise
        return _heat_map_page(request, session, me, status=err.status, error=Message.of(err))
    query = urlencode({"done": action, "node": name})
    return RedirectResponse(f"/center/nodes?{query}#node-{name}", status_code=303)


# --- organizations, projects and users ---


ROLES = [r.value for r in Role]
KINDS = [k.value for k in OrgKind]


def _tenants_page(
    request: Request,
    session: SessionDep,
    me: Operator,
    *,
    form: PageForm | None = None,
    status: int = 200,
    error: Message | str = "",
) -> Response:
    return render(
        request,
        "tenants.html",
        me=me,
        nav="tenants",
        status=status,
        data=center_views.directory(session, me.who),
        roles=ROLES,
        kinds=KINDS,
        form=form or PageForm(""),
        created=request.query_params.get("created", ""),
        created_name=request.query_params.get("name", ""),
        changed=request.query_params.get("changed", ""),
        error=error,
    )


@router.get("/tenants")
def tenants_page(request: Request, session: SessionDep, me: Operator) -> Response:
    return _tenants_page(request, session, me)


def _created(kind: str, name: str) -> Response:
    query = urlencode({"created": kind, "name": name})
    return RedirectResponse(f"/center/tenants?{query}", status_code=303)


@router.post("/tenants/orgs")
def create_org(
    request: Request,
    session: SessionDep,
    me: Operator,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=40)] = "other",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    form = PageForm("org", {"name": name, "display_name": display_name, "kind": kind})
    try:
        body = parse(
            form,
            schemas.OrgIn,
            {"name": name.strip(), "display_name": blank_to_none(display_name), "kind": kind},
            {},
        )
        with service_call(session, form):
            tenancy.create_org(
                session,
                me.who,
                name=body.name,
                display_name=body.display_name or "",
                kind=body.kind.value,
            )
    except Rejected as refused:
        return _tenants_page(request, session, me, form=form, status=refused.status)
    return _created("org", body.name)


@router.post("/tenants/orgs/{org_id}/kind")
def set_org_kind(
    request: Request,
    session: SessionDep,
    me: Operator,
    org_id: str,
    csrf: Annotated[str, Form()] = "",
    kind: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """What kind of tenant the organization is, as the monthly report counts it."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    org = tenancy.update_org(session, me.who, org_id, kind=kind)
    query = urlencode({"changed": "kind", "name": org.name})
    return RedirectResponse(f"/center/tenants?{query}", status_code=303)


@router.post("/tenants/projects")
def create_project(
    request: Request,
    session: SessionDep,
    me: Operator,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    org_id: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    form = PageForm("project", {"name": name, "org_id": org_id})
    try:
        body = parse(
            form, schemas.ProjectIn, {"name": name.strip(), "org_id": blank_to_none(org_id)}, {}
        )
        with service_call(session, form):
            tenancy.create_project(session, me.who, name=body.name, org_id=body.org_id)
    except Rejected as refused:
        return _tenants_page(request, session, me, form=form, status=refused.status)
    return _created("project", body.name)


@router.post("/tenants/users")
def create_user(
    request: Request,
    session: SessionDep,
    me: Operator,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    org_id: Annotated[str, Form(max_length=60)] = "",
    role: Annotated[str, Form(max_length=20)] = "member",
    password: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    # The password is never sent back to the page.
    form = PageForm("user", {"name": name, "org_id": org_id, "role": role, "email": email})
    data = {
        "name": name.strip(),
        "org_id": blank_to_none(org_id),
        "role": role,
        "password": password or None,
        "email": blank_to_none(email),
    }
    try:
        body = parse(form, schemas.UserIn, data, {})
        with service_call(session, form):
            tenancy.create_user(
                session,
                me.who,
                name=body.name,
                role=body.role,
                org_id=body.org_id,
                password=body.password,
                email=body.email,
            )
    except Rejected as refused:
        return _tenants_page(request, session, me, form=form, status=refused.status)
    return _created("user", body.name)


USER_ACTIONS = {"disable": True, "enable": False}


@router.post("/tenants/users/{user_id}/{action}")
def user_action(
    request: Request,
    session: SessionDep,
    me: Operator,
    user_id: str,
    action: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Disable or enable a user, as `PATCH /api/v1/users/{id}` does."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    if action not in USER_ACTIONS:
        return error_page(request, 404, "")
    try:
        with session.begin_nested():
            user = tenancy.set_disabled(session, me.who, user_id, USER_ACTIONS[action])
    except ServiceError as err:
        if err.status == 404:
            raise
        return _tenants_page(request, session, me, status=err.status, error=Message.of(err))
    query = urlencode({"changed": f"{action}d", "name": user.name})
    return RedirectResponse(f"/center/tenants?{query}#user-{user.id}", status_code=303)


# --- audit log ---


@router.get("/audit")
def audit_log(
    request: Request,
    session: SessionDep,
    me: Operator,
    action: str | None = None,
    actor: str | None = None,
    before: str = "",
) -> Response:
    cursor = int(before) if before.isdigit() and len(before) < 19 else None
    data = center_views.audit_page(session, me.who, action=action, actor=actor, before=cursor)
    return render(request, "audit.html", me=me, nav="audit", data=data)
