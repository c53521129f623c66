"""Signing in and out, and the language switch: forms and cookies around `services.sessions`."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from aicc.api.deps import SessionDep, StateDep, client_address
from aicc.portal.auth import (
    CSRF_COOKIE,
    DEVICE_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Posting,
    current,
    safe_next,
    set_cookie,
)
from aicc.portal.i18n import supported
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.portal.sso import buttons
from aicc.services.common import utcnow
from aicc.services.tenancy import sessions

log = logging.getLogger("aicc.portal")

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/sign-in")
def sign_in_page(request: Request, session: SessionDep, next: str = "/") -> Response:
    if current(session, request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request, "sign_in.html", me=None, next=safe_next(next), error=None, sso=buttons(request)
    )


@router.post("/sign-in")
def sign_in(
    request: Request,
    state: StateDep,
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    token: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    target = safe_next(next)

    def again(
        error: str, status: int = 200, headers: dict[str, str] | None = None, **context: int
    ) -> Response:
        return render(
            request,
            "sign_in.html",
            me=None,
            status=status,
            headers=headers,
            next=target,
            error=error,
            username=username,
            sso=buttons(request),
            **context,
        )

    if not sessions.same_token(csrf, request.cookies.get(CSRF_COOKIE)):
        return again("sign_in.error.expired", status=400)
    username = username.strip()
    use_token = bool(token.strip())
    if not use_token and not (username and password):
        return again("sign_in.error.missing")
    client, now = client_address(request), utcnow()
    typed = "" if use_token else username
    device = sessions.known_device(state.sealer, request.cookies.get(DEVICE_COOKIE), typed, now)
    with state.db.session() as session:
        try:
            started = sessions.sign_in(
                session,
                username=typed,
                password=password,
                token=token,
                client=client,
                now=now,
                known_device=device,
                # picked on the sign-in page: it becomes the person's
                language=supported(request.cookies.get(LANG_COOKIE)),
            )
        except sessions.Throttled as err:
            # Not the name typed: a password typed into the name's field would be in the log.
            log.warning("portal: sign-in refused (throttled) from %s", client)
            return again(
                "sign_in.error.throttled",
                status=429,
                headers={"Retry-After": str(err.retry_after)},
                minutes=max(1, -(-err.retry_after // 60)),
            )
    if started is None:
        return again("sign_in.error.token" if use_token else "sign_in.error.password")
    response = RedirectResponse(target, status_code=303)
    ttl = int(sessions.SESSION_TTL.total_seconds())
    set_cookie(response, request, SESSION_COOKIE, started.secret, ttl)
    if not use_token:
        note = sessions.device_cookie(state.sealer, username, now)
        ttl = int(sessions.DEVICE_TTL.total_seconds())
        set_cookie(response, request, DEVICE_COOKIE, note, ttl)
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.delete_cookie(LANG_COOKIE, path="/")  # used up: it must not follow the next person
    return response


@router.post("/sign-out")
def sign_out(session: SessionDep, me: Posting) -> Response:
    sessions.end(session, me.who, me.session_id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def set_language(
    request: Request,
    session: SessionDep,
    language: Annotated[str, Form()] = "en",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    me = current(session, request)
    expected = me.csrf if me is not None else request.cookies.get(CSRF_COOKIE)
    if not sessions.same_token(csrf, expected):
        return error_page(request, 400, "csrf")
    chosen = supported(language) or "en"
    response = RedirectResponse(safe_next(next), status_code=303)
    if me is not None:  # remembered for the person, wherever they sign in next
        sessions.set_language(session, me.who, chosen)
        response.delete_cookie(LANG_COOKIE, path="/")
    else:  # remembered by this browser until someone signs in with it
        set_cookie(response, request, LANG_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response
