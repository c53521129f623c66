"""The portal's side of signing in: cookies and the dependencies pages declare (`Me`,
`Operator`, and `Posting`/`OperatorPosting` for a form that changes something). The rules and
the storage (sessions, the throttle, device notes) are the `services.sessions` service's; this
module only carries its secrets in and out of cookies.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from aicc.api.deps import SessionDep, get_state
from aicc.services.common import Forbidden, utcnow
from aicc.services.tenancy import sessions
from aicc.services.tenancy.sessions import SignedIn

SESSION_COOKIE = "aicc_session"
CSRF_COOKIE = "aicc_csrf"  # before sign-in: the sign-in and language forms' token
LANG_COOKIE = "aicc_lang"
DEVICE_COOKIE = "aicc_device"  # this browser signed in with a password (sessions.known_device)
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, htmx requests are told to."""


def current(session: Session, request: Request) -> SignedIn | None:
    """The person behind this request's session cookie, or None."""
    return sessions.resolve(session, request.cookies.get(SESSION_COOKIE), now=utcnow())


def signed_in(request: Request, session: SessionDep) -> SignedIn:
    me = current(session, request)
    if me is None:
        raise SignInRequired
    return me


Me = Annotated[SignedIn, Depends(signed_in)]


async def signed_in_briefly(request: Request) -> SignedIn:
    """`signed_in` for an async page that must not hold a store session across its awaits (an
    upload, a chat): the session is opened and closed at once, in a worker thread."""

    def now() -> SignedIn:
        with get_state(request).db.reader() as session:
            me = current(session, request)
        if me is None:
            raise SignInRequired
        return me

    return await run_in_threadpool(now)


def operator(me: Me) -> SignedIn:
    """The center's operators (the `admin` role) only: anyone else gets the 403 page."""
    if not me.who.is_admin:
        raise Forbidden("only the center's operators may open this page")
    return me


Operator = Annotated[SignedIn, Depends(operator)]


def csrf_ok(me: SignedIn, given: str) -> bool:
    return sessions.same_token(given, me.csrf)


class ForgedForm(Exception):
    """A form posted without this session's CSRF token: the 400 page (`PortalRoute`)."""


def _posted(me: SignedIn, csrf: str) -> SignedIn:
    if not csrf_ok(me, csrf):
        raise ForgedForm
    return me


def posting(me: Me, csrf: Annotated[str, Form()] = "") -> SignedIn:
    """`Me` for a form that changes something: the form carries the session's CSRF token."""
    return _posted(me, csrf)


def operator_posting(me: Operator, csrf: Annotated[str, Form()] = "") -> SignedIn:
    """`Operator` for a form that changes something, with the session's CSRF token."""
    return _posted(me, csrf)


# Checked before the page's own inputs: a forged form is the 400 page whatever else it says.
Posting = Annotated[SignedIn, Depends(posting)]
OperatorPosting = Annotated[SignedIn, Depends(operator_posting)]


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host`, a scheme, a backslash, or a tab or newline
    (browsers drop those, so `/<TAB>/host` would become `//host`)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return "/"
    return target


def to_sign_in(request: Request) -> Response:
    target = "/sign-in"
    if request.url.path not in ("/", "/sign-in"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The signed-out forms' token (from its cookie), and whether it is new and must be set."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and _TOKEN_SHAPE.match(token):
        return token, False
    return sessions.new_csrf(), True


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        # Behind a TLS proxy the request itself arrives over http: `tls` says it is https.
        secure=request.url.scheme == "https" or request.app.state.aicc.settings.tls,
    )
