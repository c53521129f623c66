"""Pages every signed-in person has for their own access: API tokens (list, create with the
secret shown once, revoke) and their projects' secrets (names only, set, delete).

The services decide what is whose: `tokens.list_tokens` lists the caller's own tokens, and
`tokens.revoke` and `secrets.*` answer 404 for another tenant's token or project, as the API does.
A secret's value is sealed on the way in and never read back by any page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
from aicc.services.common import utcnow
from aicc.services.tenancy import secrets, tenancy, tokens, views

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

EXPIRY_DAYS = (7, 30, 90, 365)


# --- API tokens ---


@dataclass(frozen=True)
class TokenLine:
    token: views.Token
    status: str  # active | expired | revoked


def _token_lines(rows: list[views.Token], now: datetime) -> list[TokenLine]:
    def status(t: views.Token) -> str:
        if t.revoked_at is not None:
            return "revoked"
        if t.expires_at is not None and t.expires_at <= now:
            return "expired"
        return "active"

    # Active ones first, newest first within each group.
    lines = [TokenLine(t, status(t)) for t in sorted(rows, key=lambda t: t.created_at)[::-1]]
    return sorted(lines, key=lambda line: line.status != "active")


def _tokens_page(
    request: Request,
    session: SessionDep,
    me: Me,
    *,
    form: PageForm | None = None,
    created: views.Token | None = None,
    status: int = 200,
) -> Response:
    rows = tokens.list_tokens(session, me.who)
    return render(
        request,
        "tokens.html",
        me=me,
        nav="tokens",
        status=status,
        tokens=_token_lines(rows, utcnow()),
        form=form or PageForm("token", {"expires_in_days": "90"}),
        created=created,
        expiry_days=EXPIRY_DAYS,
        revoked=request.query_params.get("revoked", ""),
    )


@router.get("/tokens")
def token_list(request: Request, session: SessionDep, me: Me) -> Response:
    return _tokens_page(request, session, me)


@router.post("/tokens")
def token_create(
    request: Request,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The answer is the page itself, not a redirect: it is the only time the secret is shown,
    and a redirect would have to carry it in a URL."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    form = PageForm("token", {"name": name, "expires_in_days": expires_in_days})
    try:
        body = parse(
            form,
            schemas.TokenIn,
            {"name": name.strip(), "expires_in_days": expires_in_days.strip() or None},
            {},
        )
        with service_call(session, form):
            row, secret = tokens.issue(
                session,
                me.who,
                user_id=me.who.user_id,
                name=body.name,
                expires_in_days=body.expires_in_days,
            )
    except Rejected as refused:
        return _tokens_page(request, session, me, form=form, status=refused.status)
    return _tokens_page(request, session, me, created=row.model_copy(update={"secret": secret}))


@router.post("/tokens/{token_id}/revoke")
def token_revoke(
    request: Request,
    session: SessionDep,
    me: Me,
    token_id: str,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    row = tokens.revoke(session, me.who, token_id)  # another's token: 404
    return RedirectResponse("/tokens?" + urlencode({"revoked": row.name}), status_code=303)


# --- secrets ---


def _secrets_page(
    request: Request,
    session: SessionDep,
    me: Me,
    project: str | None,
    *,
    form: PageForm | None = None,
    status: int = 200,
) -> Response:
    # The person's own organization's projects that they may read (an operator's own too).
    choices = [p for p in tenancy.list_projects(session, me.who) if p.org_id == me.who.org_id]
    current = tenancy.resolve_project(session, me.who, project)  # another tenant's: 404
    rows = secrets.names(session, me.who, project=current.id)
    return render(
        request,
        "secrets.html",
        me=me,
        nav="secrets",
        status=status,
        projects=choices,
        project=current,
        secrets=rows,
        form=form or PageForm("secret"),
        saved=request.query_params.get("saved", ""),
        deleted=request.query_params.get("deleted", ""),
    )


@router.get("/secrets")
def secret_list(
    request: Request, session: SessionDep, me: Me, project: str | None = None
) -> Response:
    return _secrets_page(request, session, me, project or None)


def _back_to(project_id: str, **flash: str) -> Response:
    query = urlencode({"project": project_id, **flash})
    return RedirectResponse(f"/secrets?{query}", status_code=303)


@router.post("/secrets")
def secret_put(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    project: Annotated[str, Form(max_length=60)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    value: Annotated[str, Form(max_length=128 * 1024)] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    current = tenancy.resolve_project(session, me.who, project or None)  # foreign: 404
    form = PageForm("secret", {"name": name})  # the value never goes back to the page
    name = name.strip()
    try:
        body = parse(form, schemas.SecretIn, {"value": value}, {})
        with service_call(session, form):
            secrets.put(
                session,
                me.who,
                sealer=state.sealer,
                project=current.id,
                name=name,
                value=body.value,
            )
    except Rejected as refused:
        return _secrets_page(request, session, me, current.id, form=form, status=refused.status)
    return _back_to(current.id, saved=name)


@router.post("/secrets/delete")
def secret_delete(
    request: Request,
    session: SessionDep,
    me: Me,
    csrf: Annotated[str, Form()] = "",
    project: Annotated[str, Form(max_length=60)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    current = tenancy.resolve_project(session, me.who, project or None)  # foreign: 404
    secrets.delete(session, me.who, project=current.id, name=name)  # viewers: 403
    return _back_to(current.id, deleted=name)
