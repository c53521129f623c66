"""The portal's routes: sign-in and sign-out, the language switch, the dashboard and the node
page, and what every page shares (rendering, sessions, the operator guard). The job pages live in
`jobs.py`, the operators' pages in `center.py`, quotas in `quotas.py`, tokens and secrets in
`account.py`.

Pages are HTML rendered on the server. Parts that change while a person watches (the job list, a
job's state and its log, the nodes) are re-fetched by htmx every few seconds as HTML fragments.
Forms that change something are plain POSTs carrying the session's CSRF token, answered with a
redirect, so everything also works without JavaScript.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc import __version__
from aicc.api.deps import SessionDep, StateDep, client_address
from aicc.core.states import IllegalTransition
from aicc.core.units import format_cpu, format_duration, format_memory
from aicc.portal import auth, views
from aicc.portal.i18n import LANGUAGES, Translator, negotiate, supported
from aicc.services import audit
from aicc.services.common import Forbidden, ServiceError, utcnow
from aicc.services.tenancy import principal_of

log = logging.getLogger("aicc.portal")

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
VENDOR_FILES = ("htmx.min.js", "echarts.min.js")

SESSION_COOKIE = "aicc_session"
CSRF_COOKIE = "aicc_csrf"  # before sign-in: the sign-in and language forms' token
LANG_COOKIE = "aicc_lang"
DEVICE_COOKIE = "aicc_device"  # this browser signed in with a password (auth.known_device)
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

# Pages load scripts and styles only from this server; no inline script runs.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# With `tls: true`, on every answer: browsers then use only https for this host, for a year.
HSTS = "max-age=31536000"  # not includeSubDomains: other hosts of the domain are not ours
# Paths that belong to the API and keep its JSON errors.
API_PREFIXES = ("/api/", "/healthz", "/metrics", "/openapi.json", "/docs", "/redoc")


def _number(value: float, digits: int = 1) -> str:
    """1234.5 -> '1,234.5', 2.0 -> '2', 0.04 -> '0.04' (small values keep a significant digit)."""
    if value and abs(value) < 10**-digits:
        digits = min(6, -int(f"{abs(value):e}".split("e")[1]))
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    cpu=format_cpu,
    memory=format_memory,
    duration=lambda s: "" if s is None else format_duration(s),
    iso=lambda d: d.isoformat() if d else "",
    when=lambda d: d.strftime("%Y-%m-%d %H:%M:%S UTC") if d else "",
    percent=lambda part, whole: round(100 * part / whole) if whole else 0,
    number=lambda value, digits=1: _number(value, digits),
)


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, htmx requests are told to."""


class PortalRoute(APIRoute):
    """A portal route answers in HTML: service errors (404 for another tenant's job, 403, ...)
    become an error page, and a missing session a trip to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired:
                return _to_sign_in(request)
            except ServiceError as err:
                return await run_in_threadpool(error_page, request, err.status, err.detail)
            except IllegalTransition as err:  # e.g. a cancel racing the job's end
                return await run_in_threadpool(error_page, request, 409, str(err))

        return route


router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
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


def _to_sign_in(request: Request) -> Response:
    target = "/sign-in"
    if request.url.path not in ("/", "/sign-in"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?next=" + quote(here, safe="")
    if request.headers.get("HX-Request"):
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def signed_in(request: Request, session: SessionDep) -> auth.SignedIn:
    me = auth.resolve(session, request.cookies.get(SESSION_COOKIE), now=utcnow())
    if me is None:
        raise SignInRequired
    return me


Me = Annotated[auth.SignedIn, Depends(signed_in)]


def operator(me: Me) -> auth.SignedIn:
    """The center's operators (the `admin` role) only: anyone else gets the 403 page."""
    if not me.who.is_admin:
        raise Forbidden("only the center's operators may open this page")
    return me


Operator = Annotated[auth.SignedIn, Depends(operator)]


def csrf_ok(me: auth.SignedIn, given: str) -> bool:
    return auth.same_token(given, me.csrf)


def language_of(request: Request, me: auth.SignedIn | None) -> str:
    if me is not None and me.language in LANGUAGES:
        return me.language
    return supported(request.cookies.get(LANG_COOKIE)) or negotiate(
        request.headers.get("Accept-Language")
    )


def _anonymous_csrf(request: Request) -> tuple[str, bool]:
    """The signed-out forms' token (from its cookie), and whether it is new and must be set."""
    token = request.cookies.get(CSRF_COOKIE)
    if token and _TOKEN_SHAPE.match(token):
        return token, False
    return auth.new_csrf(), True


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
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


def render(
    request: Request,
    template: str,
    *,
    me: auth.SignedIn | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request, me)
    new_token = False
    if me is not None:
        csrf = me.csrf
    else:
        csrf, new_token = _anonymous_csrf(request)
    html = templates.get_template(template).render(
        t=Translator(language),
        lang=language,
        languages=LANGUAGES,
        me=me,
        csrf=csrf,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        version=__version__,
        assets_built=assets_built(),
        now=utcnow(),
        **{"nav": "", **context},
    )
    response = HTMLResponse(
        html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})}
    )
    if new_token:
        _cookie(response, request, CSRF_COOKIE, csrf, max_age=24 * 3600)
    return response


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """An error in the portal's frame (with the header, when someone is signed in)."""
    state = request.app.state.aicc
    with state.db.reader() as session:
        me = auth.resolve(session, request.cookies.get(SESSION_COOKIE), now=utcnow())
    if request.headers.get("HX-Request"):
        return HTMLResponse("", status_code=status, headers=SECURITY_HEADERS)
    return render(request, "error.html", me=me, status=status, code=status, detail=detail)


def assets_built() -> bool:
    return all((VENDOR / name).is_file() for name in VENDOR_FILES)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- signing in and out, language ---


@router.get("/sign-in")
def sign_in_page(request: Request, session: SessionDep, next: str = "/") -> Response:
    if auth.resolve(session, request.cookies.get(SESSION_COOKIE), now=utcnow()) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "sign_in.html", me=None, next=_safe_next(next), error=None)


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
    target = _safe_next(next)

    def again(error: str, status: int = 200, **headers: str) -> Response:
        return render(
            request,
            "sign_in.html",
            me=None,
            status=status,
            headers=headers,
            next=target,
            error=error,
            username=username,
        )

    if not auth.same_token(csrf, request.cookies.get(CSRF_COOKIE)):
        return again("sign_in.error.expired", status=400)
    username = username.strip()
    use_token = bool(token.strip())
    if not use_token and not (username and password):
        return again("sign_in.error.missing")
    client, now = client_address(request), utcnow()
    typed = "" if use_token else username
    device = auth.known_device(state.sealer, request.cookies.get(DEVICE_COOKIE), typed, now)
    with state.db.session() as session:
        try:
            auth.check_throttle(
                session, username=typed, client=client, now=now, known_device=device
            )
        except auth.Throttled as err:
            log.warning("portal: sign-in refused (throttled) for %r from %s", username, client)
            minutes = max(1, -(-err.retry_after // 60))
            return render(
                request,
                "sign_in.html",
                me=None,
                status=429,
                headers={"Retry-After": str(err.retry_after)},
                next=target,
                error="sign_in.error.throttled",
                minutes=minutes,
                username=username,
            )
        if use_token:
            found = auth.user_by_token(session, token)
            user, used = found if found is not None else (None, None)
        else:
            user, used = auth.user_by_password(session, username, password), None
        if user is None:
            auth.record_failure(session, username=typed, client=client, now=now)
            secret = None
        else:
            secret, _ = auth.start(session, user, client=client, now=now, token=used)
            chosen = supported(request.cookies.get(LANG_COOKIE))
            if chosen is not None:  # picked on the sign-in page: it becomes the person's
                user.language = chosen
            who = principal_of(session, user)
            method = "token" if use_token else "password"
            audit.record(session, who, "portal.sign_in", "user", user.id, detail={"by": method})
    if secret is None:
        return again("sign_in.error.token" if use_token else "sign_in.error.password")
    response = RedirectResponse(target, status_code=303)
    _cookie(response, request, SESSION_COOKIE, secret, int(auth.SESSION_TTL.total_seconds()))
    if not use_token:
        note = auth.device_cookie(state.sealer, username, now)
        _cookie(response, request, DEVICE_COOKIE, note, int(auth.DEVICE_TTL.total_seconds()))
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.delete_cookie(LANG_COOKIE, path="/")  # used up: it must not follow the next person
    return response


@router.post("/sign-out")
def sign_out(
    request: Request, session: SessionDep, me: Me, csrf: Annotated[str, Form()] = ""
) -> Response:
    if not auth.same_token(csrf, me.csrf):
        return error_page(request, 400, "csrf")
    auth.end(session, me.session_id)
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
    me = auth.resolve(session, request.cookies.get(SESSION_COOKIE), now=utcnow())
    expected = me.csrf if me is not None else request.cookies.get(CSRF_COOKIE)
    if not auth.same_token(csrf, expected):
        return error_page(request, 400, "csrf")
    chosen = supported(language) or "en"
    response = RedirectResponse(_safe_next(next), status_code=303)
    if me is not None:  # remembered for the person, wherever they sign in next
        auth.set_language(session, me.who, chosen)
        response.delete_cookie(LANG_COOKIE, path="/")
    else:  # remembered by this browser until someone signs in with it
        _cookie(response, request, LANG_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response


# --- pages ---


@router.get("/")
def dashboard(request: Request, state: StateDep, session: SessionDep, me: Me) -> Response:
    from aicc.portal import billing, quotas  # they build on this module's routing and rendering

    data = views.dashboard(session, me.who)
    t = Translator(language_of(request, me))
    chart = views.chart_data(data.counts, lambda s: t(f"state.{s}"))
    return render(
        request,
        "dashboard.html",
        me=me,
        nav="dashboard",
        data=data,
        chart=chart,
        waiting=views.WAITING,
        running=views.RUNNING,
        finished=views.FINISHED,
        spend=billing.month_spend(session, state, me),
        money=billing.money,
        quota=quotas.own_standing(session, me.who),
        duration_s=views.duration_s,
        **quotas.helpers(t),
    )


@router.get("/nodes")
def node_list(request: Request, session: SessionDep, me: Me) -> Response:
    template = "_node_cards.html" if is_htmx(request) else "nodes.html"
    return render(request, template, me=me, nav="nodes", nodes=views.node_list(session))


# --- installing it into the server ---


def install(app: FastAPI) -> None:
    """Add the portal to the server: its routes at `/`, its files at `/static`, and HTML 404
    pages for browsers on paths outside the API."""
    if not assets_built():
        log.warning(
            "portal: front-end assets are missing from %s; run `bash scripts/build-portal.sh` "
            "(`make run` does) or pages will not update live",
            VENDOR,
        )
    from aicc.portal import (
        account,
        billing,
        center,
        job_resources,
        jobs,
        quotas,
        wizard,
        yaml_editor,
    )

    app.include_router(router)
    for pages in (jobs, center, quotas, account, wizard, yaml_editor, billing, job_resources):
        app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="portal-static")

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        browser = "text/html" in request.headers.get("Accept", "")
        if exc.status_code == 404 and browser and not request.url.path.startswith(API_PREFIXES):
            return await run_in_threadpool(error_page, request, 404, "")
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, not_found)
    if app.state.aicc.settings.tls:
        app.add_middleware(StrictTransport)


class StrictTransport:
    """Adds Strict-Transport-Security to every answer, the API's too (`tls: true`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, sending if scope["type"] == "http" else send)
