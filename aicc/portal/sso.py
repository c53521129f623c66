"""Single sign-on in the portal: "Sign in with <label>" and the provider's way back.

`GET /sso/NAME` sends the browser to the provider with a new state, nonce and PKCE challenge,
which it keeps sealed in a cookie for ten minutes (`aicc_sso`, only sent to /sso/). The
provider sends the browser back to `GET /sso/NAME/callback`, where `services.oidc` checks the
answer and `services.sso` signs the person in; the cookie is used up either way. Any failure
(declined, tampered with, expired, provider down, a person no rule maps) shows the sign-in page
with what happened, in the reader's language.
"""

from __future__ import annotations

import dataclasses
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from aicc.api.deps import StateDep, client_address
from aicc.api.state import AppState
from aicc.portal.auth import CSRF_COOKIE, LANG_COOKIE, SESSION_COOKIE, safe_next, set_cookie
from aicc.portal.i18n import Message, supported
from aicc.portal.rendering import PortalRoute, render
from aicc.services.common import NotFound, ServiceError, utcnow
from aicc.services.tenancy import oidc, sessions, sso

log = logging.getLogger("aicc.portal")

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PENDING_COOKIE = "aicc_sso"
PENDING_PATH = "/sso/"


def buttons(request: Request) -> list[dict[str, str]]:
    """The sign-in page's single sign-on buttons: where each goes and its label."""
    provider = oidc.provider_for(request.app.state.aicc.settings.oidc)
    if provider is None:
        return []
    return [{"href": f"/sso/{provider.name}", "label": provider.label}]


def _provider(request: Request, name: str) -> oidc.Provider:
    provider = oidc.provider_for(request.app.state.aicc.settings.oidc)
    if provider is None or provider.name != name:
        raise NotFound("no single sign-on provider {name} here", name=name)
    return provider


def _failed(request: Request, err: ServiceError, next: str = "/") -> Response:
    """The sign-in page again, saying why single sign-on did not sign the person in."""
    response = render(
        request,
        "sign_in.html",
        me=None,
        status=err.status,
        next=next,
        error=None,
        sso_error=Message.of(err),
        sso=buttons(request),
    )
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    return response


@router.get("/sso/{name}")
def begin(request: Request, state: StateDep, name: str, next: str = "/") -> Response:
    provider = _provider(request, name)
    redirect_uri = provider.settings.redirect_uri or str(
        request.url_for("sso_callback", name=provider.name)
    )
    try:
        url, pending = provider.begin(redirect_uri, safe_next(next))
    except ServiceError as err:
        return _failed(request, err, safe_next(next))
    response = RedirectResponse(url, status_code=303)
    sealed = state.sealer.seal(json.dumps(dataclasses.asdict(pending)))
    response.set_cookie(  # as set_cookie does, but sent back to /sso/ only
        PENDING_COOKIE,
        sealed,
        max_age=oidc.PENDING_TTL_S,
        path=PENDING_PATH,
        httponly=True,
        samesite="lax",  # the provider's redirect back is a top-level GET: it is sent
        secure=request.url.scheme == "https" or state.settings.tls,
    )
    return response


def _pending(state: AppState, cookie: str | None) -> oidc.Pending | None:
    if not cookie or len(cookie) > 4000:
        return None
    try:
        return oidc.Pending(**json.loads(state.sealer.open(cookie)))
    except (ValueError, TypeError):  # damaged or another key's (SealError is a ValueError)
        return None


@router.get("/sso/{name}/callback", name="sso_callback")
def callback(request: Request, state: StateDep, name: str) -> Response:
    provider = _provider(request, name)
    pending = _pending(state, request.cookies.get(PENDING_COOKIE))
    target = safe_next(pending.next) if pending is not None else "/"
    client, now = client_address(request), utcnow()
    try:
        claims = provider.finish(pending, dict(request.query_params))
        language = supported(request.cookies.get(LANG_COOKIE))
        for attempt in (1, 2):
            try:
                with state.db.session() as session:
                    started = sso.sign_in(
                        session,
                        provider.settings,
                        claims,
                        client=client,
                        now=now,
                        language=language,
                    )
                break
            except IntegrityError:  # another sign-in created this person (or took the name)
                if attempt == 2:  # a moment ago: the second try finds them (or the next name)
                    raise
    except ServiceError as err:
        log.warning("portal: single sign-on refused from %s: %s", client, err.detail)
        return _failed(request, err, target)
    response = RedirectResponse(target, status_code=303)
    ttl = int(sessions.SESSION_TTL.total_seconds())
    set_cookie(response, request, SESSION_COOKIE, started.secret, ttl)
    response.delete_cookie(PENDING_COOKIE, path=PENDING_PATH)
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.delete_cookie(LANG_COOKIE, path="/")
    return response
