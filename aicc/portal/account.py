"""Pages every signed-in person has for their own access: API tokens and S3 access keys (list,
create with the secret shown once, revoke or delete), their projects' secrets (names only, set,
delete) and their portal password (`/password`: their own with the one they have now; an
organization admin's form for another user of theirs, `?user=`, as
`PUT /api/v1/users/{id}/password`).

The services decide what is whose: `tokens.list_tokens` lists the caller's own tokens, and
`tokens.revoke` and `secrets.*` answer 404 for another tenant's token or project, as the API does.
A secret's value is sealed on the way in and never read back by any page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from aicc.api import schemas
from aicc.api.deps import SessionDep
from aicc.portal.auth import Posting
from aicc.portal.forms import FieldError, Rejected, parse, service_call
from aicc.portal.forms import Form as PageForm
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.common import utcnow
from aicc.services.tenancy import s3keys, secrets, tenancy, tokens, views

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

EXPIRY_DAYS = (7, 30, 90, 365)
M = TypeVar("M", bound=BaseModel)


def _issue(
    page: Page,
    listing: Callable[..., Response],
    form: PageForm,
    model: type[M],
    data: dict[str, Any],
    issue: Callable[[M], tuple[BaseModel, str]],
) -> Response:
    """A new credential (`issue` of the form's input checked by `model`) answered by its page
    itself (`listing`: the tokens' or the S3 keys'), not by a redirect: the page is the only
    place its secret is ever shown, and a redirect would have to carry it in a URL. Refused:
    the page with the form and its errors."""
    try:
        body = parse(form, model, data, {})
        with service_call(page.session, form):
            made, secret = issue(body)
    except Rejected as refused:
        return listing(page, form=form, status=refused.status)
    return listing(page, created=made.model_copy(update={"secret": secret}))


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
    page: Page,
    *,
    form: PageForm | None = None,
    created: views.Token | None = None,
    status: int = 200,
) -> Response:
    rows = tokens.list_tokens(page.session, page.me.who)
    return page.render(
        "tokens.html",
        nav="tokens",
        status=status,
        tokens=_token_lines(rows, utcnow()),
        form=form or PageForm("token", {"expires_in_days": "90"}),
        created=created,
        expiry_days=EXPIRY_DAYS,
        revoked=page.query("revoked"),
    )


@router.get("/tokens")
def token_list(page: PageDep) -> Response:
    return _tokens_page(page)


@router.post("/tokens")
def token_create(
    page: PostingPage,
    name: Annotated[str, Form(max_length=300)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _issue(
        page,
        _tokens_page,
        PageForm("token", {"name": name, "expires_in_days": expires_in_days}),
        schemas.TokenIn,
        {"name": name.strip(), "expires_in_days": expires_in_days.strip() or None},
        lambda body: tokens.issue(
            page.session,
            page.me.who,
            user_id=page.me.who.user_id,
            name=body.name,
            expires_in_days=body.expires_in_days,
        ),
    )


@router.post("/tokens/{token_id}/revoke")
def token_revoke(
    session: SessionDep,
    me: Posting,
    token_id: str,
) -> Response:
    row = tokens.revoke(session, me.who, token_id)  # another's token: 404
    return RedirectResponse("/tokens?" + urlencode({"revoked": row.name}), status_code=303)


# --- S3 access keys (the `/s3` endpoint, docs/interop.md) ---


def _s3_keys_page(
    page: Page,
    *,
    form: PageForm | None = None,
    created: views.S3Key | None = None,
    status: int = 200,
) -> Response:
    rows = sorted(s3keys.list_keys(page.session, page.me.who), key=lambda k: k.created_at)
    return page.render(
        "s3_keys.html",
        nav="s3_keys",
        status=status,
        keys=rows[::-1],
        form=form or PageForm("s3_key"),
        created=created,
        deleted=page.query("deleted"),
        endpoint=str(page.request.base_url).rstrip("/") + "/s3",
    )


@router.get("/s3-keys")
def s3_key_list(page: PageDep) -> Response:
    return _s3_keys_page(page)


@router.post("/s3-keys")
def s3_key_create(
    page: PostingPage,
    name: Annotated[str, Form(max_length=300)] = "",
    writable: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    return _issue(
        page,
        _s3_keys_page,
        PageForm("s3_key", {"name": name, "writable": writable}),
        schemas.S3KeyIn,
        {"name": name.strip(), "writable": bool(writable)},
        lambda body: s3keys.issue(
            page.session,
            page.me.who,
            sealer=page.state.sealer,
            name=body.name,
            writable=body.writable,
        ),
    )


@router.post("/s3-keys/{key_id}/delete")
def s3_key_delete(session: SessionDep, me: Posting, key_id: str) -> Response:
    s3keys.delete(session, me.who, key_id)  # another's key: 404
    return RedirectResponse("/s3-keys?" + urlencode({"deleted": key_id}), status_code=303)


# --- secrets ---


def _secrets_page(
    page: Page,
    project: str | None,
    *,
    form: PageForm | None = None,
    status: int = 200,
) -> Response:
    session, who = page.session, page.me.who
    choices = page.own_projects()
    current = tenancy.resolve_project(session, who, project)  # another tenant's: 404
    rows = secrets.names(session, who, project=current.id)
    return page.render(
        "secrets.html",
        nav="secrets",
        status=status,
        projects=choices,
        project=current,
        secrets=rows,
        form=form or PageForm("secret"),
        saved=page.query("saved"),
        deleted=page.query("deleted"),
    )


@router.get("/secrets")
def secret_list(page: PageDep, project: str | None = None) -> Response:
    return _secrets_page(page, project or None)


def _back_to(project_id: str, **flash: str) -> Response:
    query = urlencode({"project": project_id, **flash})
    return RedirectResponse(f"/secrets?{query}", status_code=303)


@router.post("/secrets")
def secret_put(
    page: PostingPage,
    project: Annotated[str, Form(max_length=60)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    value: Annotated[str, Form(max_length=128 * 1024)] = "",
) -> Response:
    session, who = page.session, page.me.who
    current = tenancy.resolve_project(session, who, project or None)  # foreign: 404
    form = PageForm("secret", {"name": name})  # the value never goes back to the page
    name = name.strip()
    try:
        body = parse(form, schemas.SecretIn, {"value": value}, {})
        with service_call(session, form):
            secrets.put(
                session,
                who,
                sealer=page.state.sealer,
                project=current.id,
                name=name,
                value=body.value,
            )
    except Rejected as refused:
        return _secrets_page(page, current.id, form=form, status=refused.status)
    return _back_to(current.id, saved=name)


@router.post("/secrets/delete")
def secret_delete(
    session: SessionDep,
    me: Posting,
    project: Annotated[str, Form(max_length=60)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    current = tenancy.resolve_project(session, me.who, project or None)  # foreign: 404
    secrets.delete(session, me.who, project=current.id, name=name)  # viewers: 403
    return _back_to(current.id, deleted=name)


# --- password ---


def _password_page(
    page: Page, user: str | None, *, form: PageForm | None = None, status: int = 200
) -> Response:
    """Your own password's form, or (`user`) the form for another user you manage: another
    organization's user is a 404, another member of yours a 403, as `GET /users/{id}` is."""
    who = page.me.who
    target = tenancy.get_user(page.session, who, user) if user else None
    return page.render(
        "password.html",
        nav="password",
        status=status,
        target=None if target is None or target.id == who.user_id else target,
        form=form or PageForm("password"),
        saved=page.query("saved"),
    )


@router.get("/password")
def password_page(page: PageDep, user: str | None = None) -> Response:
    return _password_page(page, user or None)


@router.post("/password")
def password_set(
    page: PostingPage,
    user: Annotated[str, Form(max_length=60)] = "",
    old_password: Annotated[str, Form(max_length=300)] = "",
    password: Annotated[str, Form(max_length=300)] = "",
    password_again: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """No password goes back to the page, not even one refused."""
    who = page.me.who
    form = PageForm("password")
    try:
        body = parse(
            form,
            schemas.PasswordIn,
            {"password": password, "old_password": old_password or None},
            {},
        )
        if password != password_again:
            form.errors["password_again"] = FieldError("password.error.again")
            raise Rejected(form)
        with service_call(page.session, form):
            done = tenancy.set_password(
                page.session,
                who,
                user or who.user_id,
                password=body.password,
                old_password=body.old_password,
            )
    except Rejected as refused:
        return _password_page(page, user or None, form=form, status=refused.status)
    query = urlencode({**({"user": done.id} if user else {}), "saved": done.name})
    return RedirectResponse(f"/password?{query}", status_code=303)
