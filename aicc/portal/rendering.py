"""What every page shares: the templates, rendering a page in the person's language, the error
page, and `PortalRoute`, the route class that turns service errors into that page.

It imports no page: pages import it (and `auth`), and `pages.py` collects their routers.

Pages are HTML rendered on the server. Parts that change while a person watches (the job list, a
job's state and its log, the nodes) are re-fetched by htmx every few seconds as HTML fragments.
Forms that change something are plain POSTs carrying the session's CSRF token, answered with a
redirect, so everything also works without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from aicc import __version__
from aicc.core.states import IllegalTransition
from aicc.core.text import visible
from aicc.core.units import format_cpu, format_duration, format_memory
from aicc.portal.auth import (
    CSRF_COOKIE,
    LANG_COOKIE,
    ForgedForm,
    SignInRequired,
    anonymous_csrf,
    current,
    set_cookie,
    to_sign_in,
)
from aicc.portal.i18n import LANGUAGES, Message, Translator, negotiate, supported
from aicc.services.common import ServiceError, utcnow
from aicc.services.tenancy.sessions import SignedIn

HERE = Path(__file__).parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor"
# What scripts/fetch_portal_assets.py copies there and the pages load (xterm: the terminal's).
VENDOR_FILES = ("htmx.min.js", "echarts.min.js", "xterm.js", "xterm.css", "xterm-addon-fit.js")

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


def _number(value: float, digits: int = 1) -> str:
    """1234.5 -> '1,234.5', 2.0 -> '2', 0.04 -> '0.04' (small values keep a significant digit)."""
    if value and abs(value) < 10**-digits:
        digits = min(6, -int(f"{abs(value):e}".split("e")[1]))
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _bytes(value: int) -> str:
    """1536 -> '1.5 KiB', 5 -> '5 B': data sets' sizes."""
    size, unit = float(value), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(size) < 1024 or unit == "PiB":
            break
        size /= 1024
    return f"{int(size)} B" if unit == "B" else f"{_number(size)} {unit}"


def _shown(value: Any) -> Any:
    """What a page's `{{ ... }}` prints: text with each control or direction character as its
    escape (stored before core/text.py refused them: autoescape makes text safe HTML, not a
    U+202E harmless), line breaks and tabs kept; markup, numbers and the rest as they are."""
    return visible(value, lines=True) if type(value) is str else value


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    finalize=_shown,
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
    bytes=_bytes,
)


def columns(t: Translator, prefix: str, *specs: str) -> list[dict[str, Any]]:
    """A table's columns for `macros/table.html`, one spec per column: its label's message key
    under `prefix` (a key with a dot of its own is taken whole), then the header cell's classes
    (`num`, `opt`), or `hidden` for a label read only by screen readers (a column of buttons).

    columns(t, "tokens.col", "name", "created opt", "expires num opt", "actions hidden")
    """
    out: list[dict[str, Any]] = []
    for spec in specs:
        key, _, classes = spec.partition(" ")
        column: dict[str, Any] = {"label": t(key if "." in key else f"{prefix}.{key}")}
        if classes == "hidden":
            column["hidden"] = True
        elif classes:
            column["class"] = classes
        out.append(column)
    return out


templates.globals["columns"] = columns


class PortalRoute(APIRoute):
    """A portal route answers in HTML: service errors (404 for another tenant's job, 403, ...)
    and a form without the session's CSRF token become an error page, and a missing session a
    trip to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired:
                return to_sign_in(request)
            except ForgedForm:
                return await run_in_threadpool(error_page, request, 400, "csrf")
            except ServiceError as err:
                return await run_in_threadpool(error_page, request, err.status, Message.of(err))
            except IllegalTransition as err:  # e.g. a cancel racing the job's end
                return await run_in_threadpool(error_page, request, 409, str(err))

        return route


def language_of(request: Request, me: SignedIn | None) -> str:
    if me is not None and me.language in LANGUAGES:
        return me.language
    return supported(request.cookies.get(LANG_COOKIE)) or negotiate(
        request.headers.get("Accept-Language")
    )


def render(
    request: Request,
    template: str,
    *,
    me: SignedIn | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    language = language_of(request, me)
    new_token = False
    if me is not None:
        csrf = me.csrf
    else:
        csrf, new_token = anonymous_csrf(request)
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
        set_cookie(response, request, CSRF_COOKIE, csrf, max_age=24 * 3600)
    return response


def error_page(request: Request, status: int, detail: Message | str) -> HTMLResponse:
    """An error in the portal's frame (with the header, when someone is signed in); a service's
    message is shown in the reader's language."""
    state = request.app.state.aicc
    with state.db.reader() as session:
        me = current(session, request)
    if request.headers.get("HX-Request"):
        return HTMLResponse("", status_code=status, headers=SECURITY_HEADERS)
    return render(request, "error.html", me=me, status=status, code=status, detail=detail)


def assets_built() -> bool:
    return all((VENDOR / name).is_file() for name in VENDOR_FILES)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
