"""The FastAPI application: routers, and the one place service errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aicc import __version__, portal
from aicc.api import schemas
from aicc.api.routers import (
    audit,
    billing,
    estimate,
    jobs,
    kpis,
    nodes,
    system,
    tenancy,
    workdirs,
)
from aicc.api.state import AppState
from aicc.core.states import IllegalTransition
from aicc.services.common import ServiceError


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="AICC",
        version=__version__,
        description="The operating system of an AI computing center: accelerators, tenants, "
        "queues, jobs. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.aicc = state
    for module in (system, tenancy, nodes, workdirs, jobs, audit, estimate, billing, kpis):
        app.include_router(module.router, responses=schemas.ERRORS)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.exception_handler(IllegalTransition)
    async def illegal(_request: Request, err: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    # The portal (issue 6): web pages at `/`, their files at `/static`; the API is unchanged.
    portal.install(app)
    return app
