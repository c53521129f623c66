"""Installing the portal into the server: its pages (`pages.ROUTERS`), its static files, HTML
404 pages for browsers outside the API, and HSTS with `tls: true`."""

from __future__ import annotations

import functools
import inspect
import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.api.app import prepared
from aicc.portal.pages import ROUTERS
from aicc.portal.rendering import STATIC, VENDOR, assets_built, error_page

log = logging.getLogger("aicc.portal")

# With `tls: true`, on every answer: browsers then use only https for this host, for a year.
HSTS = "max-age=31536000"  # not includeSubDomains: other hosts of the domain are not ours
# Paths that belong to the API and keep its JSON errors.
API_PREFIXES = ("/api/", "/healthz", "/metrics", "/openapi.json", "/docs", "/redoc", "/ga4gh/")


def _include_portal(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)


portal_routes = functools.cache(lambda: prepared(_include_portal))  # as api_routes, once


def install(app: FastAPI) -> None:
    """Add the portal to the server: its routes at `/`, its files at `/static`, and HTML 404
    pages for browsers on paths outside the API."""
    if not assets_built():
        log.warning(
            "portal: front-end assets are missing from %s; run `bash scripts/build-portal.sh` "
            "(`make run` does) or pages will not update live",
            VENDOR,
        )
    app.router.routes.extend(portal_routes())
    app.mount("/static", StaticFiles(directory=STATIC), name="portal-static")

    api_handler = app.exception_handlers.get(StarletteHTTPException)  # the API's (TES shape)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        browser = "text/html" in request.headers.get("Accept", "")
        if exc.status_code == 404 and browser and not request.url.path.startswith(API_PREFIXES):
            return await run_in_threadpool(error_page, request, 404, "")
        if api_handler is not None:
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
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
