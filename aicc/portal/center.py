"""The operators' pages (center admins only; anyone else gets 403): the center overview, the
device heat map with cordon, uncordon and drain, organizations and users, and the audit log.

Node actions call the same service functions as `api/routers/nodes.py`; creating tenants the
same as `api/routers/tenancy.py`, after the same request models check the input.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.api import schemas
from aicc.core.tenancy import OrgKind, Role
from aicc.core.topology import NodeState
from aicc.portal import center_views
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Rejected, blank_to_none, parse, service_call
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import OperatorPage, OperatorPostingPage, Page
from aicc.portal.rendering import PortalRoute, error_page, is_htmx, language_of
from aicc.services.center import drains, overview
from aicc.services.common import ServiceError, utcnow
from aicc.services.nodes import nodes
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")

NODE_ACTIONS = ("cordon", "uncordon", "drain", "evict")


# --- overview ---


@router.get("")
def center_overview(page: OperatorPage, hours: str = "") -> Response:
    window = int(hours) if hours.isdigit() else overview.DEFAULT_WINDOW
    data = overview.center(page.session, page.me.who, utcnow(), window)
    t = Translator(language_of(page.request, page.me))
    template = "_center_live.html" if is_htmx(page.request) else "center.html"
    return page.render(
        template,
        nav="center",
        data=data,
        windows=list(overview.WINDOWS),
        capacity_chart=center_views.capacity_chart(data, t),
        rate_chart=center_views.rate_chart(data, t),
        queue_chart=center_views.queue_chart(data, t),
        power=page.state.controller.site.reading(page.session),
    )


# --- the heat map and node actions ---


def _heat_map_page(page: Page, *, status: int = 200, error: Message | str = "") -> Response:
    template = "_heatmap.html" if is_htmx(page.request) else "heatmap.html"
    return page.render(
        template,
        nav="center_nodes",
        status=status,
        data=center_views.heat_map(page.session, page.me.who),
        error=error,
        done=page.query("done"),
        done_node=page.query("node"),
    )


@router.get("/nodes")
def heat_map(page: OperatorPage) -> Response:
    return _heat_map_page(page)


@router.post("/nodes/{name}/{action}")
def node_action(page: OperatorPostingPage, name: str, action: str) -> Response:
    if action not in NODE_ACTIONS:
        return error_page(page.request, 404, "")
    try:
        with page.session.begin_nested():
            if action == "cordon":
                nodes.set_state(
                    page.session, page.me.who, name, NodeState.CORDONED, "cordoned by an operator"
                )
            elif action == "uncordon":
                nodes.set_state(page.session, page.me.who, name, NodeState.READY)
            else:
                drains.drain(page.session, page.me.who, name, evict=action == "evict", now=utcnow())
    except ServiceError as err:
        if err.status == 404:
            raise
        return _heat_map_page(page, status=err.status, error=Message.of(err))
    query = urlencode({"done": action, "node": name})
    return RedirectResponse(f"/center/nodes?{query}#node-{name}", status_code=303)


# --- organizations, projects and users ---


ROLES = [r.value for r in Role]
KINDS = [k.value for k in OrgKind]


def _tenants_page(
    page: Page, *, form: PageForm | None = None, status: int = 200, error: Message | str = ""
) -> Response:
    return page.render(
        "tenants.html",
        nav="tenants",
        status=status,
        data=center_views.directory(page.session, page.me.who),
        roles=ROLES,
        kinds=KINDS,
        form=form or PageForm(""),
        created=page.query("created"),
        created_name=page.query("name"),
        changed=page.query("changed"),
        error=error,
    )


@router.get("/tenants")
def tenants_page(page: OperatorPage) -> Response:
    return _tenants_page(page)


def _to_tenants(anchor: str = "", **flash: str) -> Response:
    """Back to the directory, saying what was done (`tenants.html`'s flashes)."""
    return RedirectResponse(f"/center/tenants?{urlencode(flash)}{anchor}", status_code=303)


@router.post("/tenants/orgs")
def create_org(
    page: OperatorPostingPage,
    name: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=40)] = "other",
) -> Response:
    form = PageForm("org", {"name": name, "display_name": display_name, "kind": kind})
    try:
        body = parse(
            form,
            schemas.OrgIn,
            {"name": name.strip(), "display_name": blank_to_none(display_name), "kind": kind},
            {},
        )
        with service_call(page.session, form):
            tenancy.create_org(
                page.session,
                page.me.who,
                name=body.name,
                display_name=body.display_name or "",
                kind=body.kind.value,
            )
    except Rejected as refused:
        return _tenants_page(page, form=form, status=refused.status)
    return _to_tenants(created="org", name=body.name)


@router.post("/tenants/orgs/{org_id}/kind")
def set_org_kind(
    page: OperatorPostingPage, org_id: str, kind: Annotated[str, Form(max_length=40)] = ""
) -> Response:
    """What kind of tenant the organization is, as the monthly report counts it."""
    org = tenancy.update_org(page.session, page.me.who, org_id, kind=kind)
    return _to_tenants(changed="kind", name=org.name)


@router.post("/tenants/projects")
def create_project(
    page: OperatorPostingPage,
    name: Annotated[str, Form(max_length=200)] = "",
    org_id: Annotated[str, Form(max_length=60)] = "",
) -> Response:
    form = PageForm("project", {"name": name, "org_id": org_id})
    try:
        body = parse(
            form, schemas.ProjectIn, {"name": name.strip(), "org_id": blank_to_none(org_id)}, {}
        )
        with service_call(page.session, form):
            tenancy.create_project(page.session, page.me.who, name=body.name, org_id=body.org_id)
    except Rejected as refused:
        return _tenants_page(page, form=form, status=refused.status)
    return _to_tenants(created="project", name=body.name)


@router.post("/tenants/users")
def create_user(
    page: OperatorPostingPage,
    name: Annotated[str, Form(max_length=200)] = "",
    org_id: Annotated[str, Form(max_length=60)] = "",
    role: Annotated[str, Form(max_length=20)] = "member",
    password: Annotated[str, Form(max_length=300)] = "",
    email: Annotated[str, Form(max_length=300)] = "",
) -> Response:
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
        with service_call(page.session, form):
            tenancy.create_user(
                page.session,
                page.me.who,
                name=body.name,
                role=body.role,
                org_id=body.org_id,
                password=body.password,
                email=body.email,
            )
    except Rejected as refused:
        return _tenants_page(page, form=form, status=refused.status)
    return _to_tenants(created="user", name=body.name)


USER_ACTIONS = {"disable": True, "enable": False}


@router.post("/tenants/users/{user_id}/{action}")
def user_action(page: OperatorPostingPage, user_id: str, action: str) -> Response:
    """Disable or enable a user, as `PATCH /api/v1/users/{id}` does."""
    if action not in USER_ACTIONS:
        return error_page(page.request, 404, "")
    try:
        with page.session.begin_nested():
            user = tenancy.set_disabled(page.session, page.me.who, user_id, USER_ACTIONS[action])
    except ServiceError as err:
        if err.status == 404:
            raise
        return _tenants_page(page, status=err.status, error=Message.of(err))
    return _to_tenants(f"#user-{user.id}", changed=f"{action}d", name=user.name)


# --- audit log ---


@router.get("/audit")
def audit_log(
    page: OperatorPage, action: str | None = None, actor: str | None = None, before: str = ""
) -> Response:
    cursor = int(before) if before.isdigit() and len(before) < 19 else None
    data = center_views.audit_page(
        page.session, page.me.who, action=action, actor=actor, before=cursor
    )
    return page.render("audit.html", nav="audit", data=data)
