"""The FastAPI application: routers, and the one place service errors become HTTP answers.

The server (aicc/server.py) builds it and mounts the portal beside it."""

from __future__ import annotations

import logging
import math
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from aicc import __version__
from aicc.api import schemas
from aicc.api.http_metrics import HttpMetrics
from aicc.api.limits import RequestLimits
from aicc.api.routers import (
    audit,
    billing,
    datasets,
    deployments,
    estimate,
    gateway,
    jobs,
    keys,
    kpis,
    models,
    nodes,
    notebooks,
    system,
    templates,
    tenancy,
    workdirs,
)
from aicc.api.state import AppState
from aicc.core.states import IllegalTransition
from aicc.services.common import ServiceError
from aicc.store.chunkstore import ChunkStoreError

log = logging.getLogger(__name__)


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="AICC",
        version=__version__,
        description="The operating system of an AI computing center: accelerators, tenants, "
        "queues, jobs. Authenticate with `Authorization: Bearer <token>`.",
        # An operation id is the endpoint's name (`jobs_submit`): generated clients read well.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.aicc = state
    # The gateway first: routes are matched in order, and `/v1` carries the most requests.
    for module in (
        *(gateway, system, tenancy, nodes, workdirs, jobs, audit, estimate, billing, kpis),
        *(datasets, models, templates, deployments, keys, notebooks),
    ):
        app.include_router(module.router, responses=schemas.ERRORS)
    schemas.document_errors(app)
    app.router.on_shutdown.append(state.gateway.close)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, err: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.exception_handler(ChunkStoreError)
    async def storage_down(_request: Request, err: ChunkStoreError) -> JSONResponse:
        log.error("data set storage: %s", err)  # names the endpoint: for operators, not tenants
        detail = "data set storage is unavailable; try again later"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(IllegalTransition)
    async def illegal(_request: Request, err: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(_printable(err.errors()))}, 422)

    app.add_middleware(
        RequestLimits, limits=state.settings.limits, trusted=state.settings.trusted_proxies
    )
    app.add_middleware(HttpMetrics, stats=state.http)  # outside the limits: refusals count
    return app


def _printable(value: Any) -> Any:
    """A 422's errors echo the input, which may hold what JSON cannot carry (NaN and infinities,
    bytes that are not UTF-8): those are given as text, so the answer says what was wrong."""
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Decimal) and not value.is_finite():
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value
