"""The operators' pages (center admins only; anyone else gets 403): the center overview (with
the facility meters and the OpenADR events the VEN answered), the device heat map with
cordon, uncordon and drain, organizations and users, and the audit log.

Node actions call the same service functions as `api/routers/nodes.py`; creating tenants the
same as `api/routers/tenancy.py`, after the same request models check the input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from aicc.api import schemas
from aicc.core.tenancy import OrgKind, Role
from aicc.core.topology import NodeState
from aicc.portal import center_views
from aicc.portal.forms import Form as PageForm
from aicc.portal.forms import Posted, Rejected, blank_to_none, parse, service_call, text_input
from aicc.portal.i18n import Message
from aicc.portal.page import OperatorPage, OperatorPostingPage, Page
from aicc.portal.rendering import PortalRoute, error_page, is_htmx
from aicc.services.billing import facility
from aicc.services.billing.views import Facility
from aicc.services.center import demand, drains, overview
from aicc.services.center.views import DemandEvents
from aicc.services.common import ServiceError, utcnow
from aicc.services.jobs import census
from aicc.services.nodes import burn_ins, maintenance, nodes
from aicc.services.tenancy import tenancy

router = APIRouter(route_class=PortalRoute, include_in_schema=False, prefix="/center")

NODE_ACTIONS = ("cordon", "uncordon", "drain", "evict", "burn_in")
M = TypeVar("M", bound=BaseModel)


# --- overview ---


@router.get("")
def center_overview(page: OperatorPage, hours: str = "") -> Response:
    window = int(hours) if hours.isdigit() else overview.DEFAULT_WINDOW
    data = overview.center(page.session, page.me.who, utcnow(), window)
    template = "_center_live.html" if is_htmx(page.request) else "center.html"
    return page.render(
        template,
        nav="center",
        data=data,
        windows=list(overview.WINDOWS),
        capacity_chart=center_views.capacity_chart(data, page.t),
        rate_chart=center_views.rate_chart(data, page.t),
        queue_chart=center_views.queue_chart(data, page.t),
        power=page.state.controller.site.reading(page.session),
        facility=_facility(page, window),
        openadr=_openadr(page),
    )


def _openadr(page: Page) -> DemandEvents | None:
    """The OpenADR events the VEN received (none shown where no VEN is configured and none
    was ever received)."""
    site = page.state.controller.site
    found = demand.listing(page.session, page.me.who, standing_kw=site.standing_kw, now=utcnow())
    if not found.items and page.state.settings.openadr.vtn_url is None:
        return None
    return found


def _facility(page: Page, hours: int) -> Facility | None:
    """The facility meters' hours of the window beside the configured PUE (none: no meters)."""
    meters = page.state.settings.meters
    if not meters:
        return None
    return facility.status(
        page.session,
        page.me.who,
        [(m.name, m.role) for m in meters],
        utcnow(),
        hours if hours in overview.WINDOWS else overview.DEFAULT_WINDOW,
        page.state.controller.site.pue_at,
    )


# --- the heat map and node actions ---


def heat_map_page(page: Page, *, status: int = 200, error: Message | str = "") -> Response:
    template = "_heatmap.html" if is_htmx(page.request) else "heatmap.html"
    return page.render(
        template,
        nav="center_nodes",
        status=status,
        data=center_views.heat_map(page.session, page.me.who),
        error=error,
        done=page.query("done"),
        done_node=page.query("node"),
        **_windows(page),
    )


def _windows(page: Page) -> dict[str, Any]:
    """The maintenance windows coming (their list and form: portal/maintenance.py), and each
    node's first, for the badge on its card."""
    windows = maintenance.listing(page.session, now=utcnow())
    first: dict[str, Any] = {}
    for window in windows:  # by start
        for name in window.nodes:
            first.setdefault(name, window)
    return {"windows": windows, "window_of": first}


@router.get("/nodes")
def heat_map(page: OperatorPage) -> Response:
    return heat_map_page(page)


@router.post("/nodes/{name}/{action}")
def node_action(page: OperatorPostingPage, name: str, action: str) -> Response:
    if action not in NODE_ACTIONS:
        return error_page(page.request, 404, "")

    def act() -> None:
        if action == "cordon":
            nodes.set_state(
                page.session,
                page.me.who,
                name,
                NodeState.CORDONED,
                "cordoned by an operator",
                used=census.allocations(page.session),
            )
        elif action == "uncordon":
            nodes.set_state(
                page.session,
                page.me.who,
                name,
                NodeState.READY,
                used=census.allocations(page.session),
            )
        elif action == "burn_in":  # issue 40: out of service until it passes
            burn_ins.request(page.session, page.me.who, name, used=census.allocations(page.session))
        else:
            drains.drain(page.session, page.me.who, name, evict=action == "evict", now=utcnow())

    refused = page.attempt(act)
    if isinstance(refused, ServiceError):
        return heat_map_page(page, status=refused.status, error=Message.of(refused))
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


def _create(
    page: Page, form: PageForm, model: type[M], data: dict[str, Any], make: Callable[[M], object]
) -> Response:
    """What a directory form (`form.name`: org, project, user) asks to make: its input checked
    by the API's request model, then made by `make`; the directory with the form's errors
    again, or saying what was made."""
    try:
        body = parse(form, model, data, {})
        with service_call(page.session, form):
            make(body)
    except Rejected as refused:
        return _tenants_page(page, form=form, status=refused.status)
    return _to_tenants(created=form.name, name=data["name"])  # the name the model accepted


class NewOrg(Posted):
    """The new organization's form."""

    name: str = text_input(200)
    display_name: str = text_input(200)
    kind: str = text_input(40, "other")


@router.post("/tenants/orgs")
def create_org(page: OperatorPostingPage, posted: Annotated[NewOrg, Form()]) -> Response:
    data = {
        "name": posted.name.strip(),
        "display_name": blank_to_none(posted.display_name),
        "kind": posted.kind,
    }
    return _create(
        page,
        PageForm("org", posted.typed()),
        schemas.OrgIn,
        data,
        lambda body: tenancy.create_org(
            page.session,
            page.me.who,
            name=body.name,
            display_name=body.display_name or "",
            kind=body.kind.value,
        ),
    )


@router.post("/tenants/orgs/{org_id}/kind")
def set_org_kind(
    page: OperatorPostingPage, org_id: str, kind: Annotated[str, Form(max_length=40)] = ""
) -> Response:
    """What kind of tenant the organization is, as the monthly report counts it."""
    org = tenancy.update_org(page.session, page.me.who, org_id, kind=kind)
    return _to_tenants(changed="kind", name=org.name)


class InOrg(Posted):
    """A name in an organization: the new project's form, and the first inputs of a user's."""

    name: str = text_input(200)
    org_id: str = text_input(60)


@router.post("/tenants/projects")
def create_project(page: OperatorPostingPage, posted: Annotated[InOrg, Form()]) -> Response:
    data = {"name": posted.name.strip(), "org_id": blank_to_none(posted.org_id)}
    return _create(
        page,
        PageForm("project", posted.typed()),
        schemas.ProjectIn,
        data,
        lambda body: tenancy.create_project(
            page.session, page.me.who, name=body.name, org_id=body.org_id
        ),
    )


class NewUser(InOrg):
    """The new user's form."""

    role: str = text_input(20, "member")
    password: str = text_input(300)
    email: str = text_input(300)


@router.post("/tenants/users")
def create_user(page: OperatorPostingPage, posted: Annotated[NewUser, Form()]) -> Response:
    data = {
        "name": posted.name.strip(),
        "org_id": blank_to_none(posted.org_id),
        "role": posted.role,
        "password": posted.password or None,
        "email": blank_to_none(posted.email),
    }
    return _create(
        page,
        # The password is never sent back to the page.
        PageForm("user", posted.typed("name", "org_id", "role", "email")),
        schemas.UserIn,
        data,
        lambda body: tenancy.create_user(
            page.session,
            page.me.who,
            name=body.name,
            role=body.role,
            org_id=body.org_id,
            password=body.password,
            email=body.email,
        ),
    )


USER_ACTIONS = {"disable": True, "enable": False}


@router.post("/tenants/users/{user_id}/{action}")
def user_action(page: OperatorPostingPage, user_id: str, action: str) -> Response:
    """Disable or enable a user, as `PATCH /api/v1/users/{id}` does."""
    if action not in USER_ACTIONS:
        return error_page(page.request, 404, "")
    user = page.attempt(
        lambda: tenancy.set_disabled(page.session, page.me.who, user_id, USER_ACTIONS[action])
    )
    if isinstance(user, ServiceError):
        return _tenants_page(page, status=user.status, error=Message.of(user))
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
