"""The portal: AICC's web face at `/`, server-rendered (Jinja2 templates, htmx for live parts).

It has no rules of its own: every page calls the same services as the API with the signed-in
person's `Principal`, so what a page shows is exactly what that person's token could read.
`install(app)` adds its routes and static files to the server's FastAPI application.

Importing this package is cheap; the web part loads when `install` is called. The pages import
`auth` (cookies, `Me`) and `rendering` (templates, `PortalRoute`), never each other's routing;
`pages.py` lists their routers. Sessions and the sign-in throttle are
`services/tenancy/sessions.py`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from aicc.portal.web import install as install_web

    install_web(app)
