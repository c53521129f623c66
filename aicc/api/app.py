"""The FastAPI application: routers, and the one place service errors become HTTP answers.

The server (aicc/server.py) builds it and mounts the portal beside it."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from aicc import __version__
from aicc.api import schemas
from aicc.api.http_metrics import HttpMetrics
from aicc.api.jobroute import JobRouteGate
from aicc.api.limits import RequestLimits
from aicc.api.responses import is_tes, tes_error
from aicc.api.routers import (
    audit,
    billing,
    datasets,
    deployments,
    estimate,
    federation,
    images,
    jobs,
    keys,
    kpis,
    leases,
    maintenance,
    mlflow,
    models,
    needs,
    nodes,
    notebooks,
    notify,
    power,
    reports,
    system,
    templates,
    tenancy,
    tes,
    workdirs,
)
from aicc.api.state import AppState
from aicc.api.versions import ApiVersion
from aicc.core.states import IllegalTransition
from aicc.gateway import objects as openai_objects
from aicc.gateway import routes as gateway
from aicc.gateway.batches import Runner
from aicc.s3 import routes as s3
from aicc.s3.state import Endpoint
from aicc.services.common import ServiceError
from aicc.services.leases import sla
from aicc.store.chunkstore import ChunkCorrupt, ChunkStoreError

log = logging.getLogger(__name__)


def operation_id(route: APIRoute) -> str:
    """An operation id is the endpoint's name (`jobs_submit`): generated clients read well."""
    return route.name


def prepared(include: Callable[[FastAPI], None]) -> tuple[BaseRoute, ...]:
    """The routes `include` adds to an app, for each app of the process to share. FastAPI
    prepares a route (its parameters' and answers' validators) the first time a request meets
    it, per app: ~1 s of CPU for the API's 400 routes, paid again by each server a process
    builds (the test suite builds one a test), each route's first request waiting on it."""
    app = FastAPI(generate_unique_id_function=operation_id, openapi_url=None)
    include(app)
    return tuple(app.router.routes)


def _include_api(app: FastAPI) -> None:
    # The gateway first: routes are matched in order, and `/v1` carries the most requests; then
    # the jobs, the API's busiest (a submit walked the 34 routes of system to workdirs first:
    # 80 µs of matching, a twentieth of its CPU). No other router has a path under /api/v1/jobs
    # that theirs match, so the order changes no answer (tests/api/test_route_order.py).
    for module in (
        *(gateway, jobs, system, tenancy, nodes, workdirs, audit, estimate, billing, kpis),
        *(datasets, models, templates, deployments, keys, notebooks, power, reports, federation),
        images,
        notify,  # notifications: channels and the inbox
        maintenance,  # maintenance windows (issue 40)
        leases,  # dedicated capacity (issue 40)
        needs,  # needs and challenges (issue 41)
        mlflow,  # MLflow's tracking and registry for the stock client (issue 60)
        s3,  # the S3 endpoint, read-only, under /s3 (issue 60)
        openai_objects,  # OpenAI's files, batches and fine-tuning under /v1 (issue 60)
    ):
        app.include_router(module.router, responses=schemas.ERRORS)
    app.include_router(tes.router)  # GA4GH TES 1.1 (issue 60): its errors are GA4GH's shape
    app.include_router(openai_objects.unknown)  # any other /v1 path: OpenAI's 404 (issue 60)


api_routes = functools.cache(lambda: prepared(_include_api))


def create_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="AICC",
        version=__version__,
        description="The operating system of an AI computing center: accelerators, tenants, "
        "queues, jobs. Authenticate with `Authorization: Bearer <token>`.",
        generate_unique_id_function=operation_id,
    )
    app.state.aicc = state
    app.state.gateway = state.gateway  # what the gateway's routes answer from
    app.state.s3 = Endpoint(state.db, state.sealer, state.chunks, state.s3)  # and the S3 endpoint's
    app.router.routes.extend(api_routes())
    schemas.document_errors(app)
    sla.register(sla.Terms.of(state.settings))  # leases' lines on invoices (issue 40)

    async def close_transactions() -> None:  # commits what is queued
        await asyncio.to_thread(state.transactions.close)

    batches = app.state.batches = Runner(state.gateway, state.blobs)  # OpenAI's batches
    app.router.on_startup.append(batches.start)
    app.router.on_shutdown += [batches.stop, state.gateway.close, close_transactions]

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, err: ServiceError) -> JSONResponse:
        if is_tes(request.url.path):
            return tes_error(err.status, err.detail)
        return JSONResponse({"detail": err.detail}, status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        if is_tes(request.url.path):  # 401 with its WWW-Authenticate, 404 of no route...
            return tes_error(err.status_code, str(err.detail), dict(err.headers or {}))
        return await http_exception_handler(request, err)

    @app.exception_handler(ChunkStoreError)
    async def storage_down(_request: Request, err: ChunkStoreError) -> JSONResponse:
        log.error("data set storage: %s", err)  # names the endpoint: for operators, not tenants
        detail = "data set storage is unavailable; try again later"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(ChunkCorrupt)
    async def damaged(_request: Request, err: ChunkCorrupt) -> JSONResponse:
        log.error("data set storage: %s", err)  # which chunk and pack: for the operator
        detail = (
            "stored data is damaged: a chunk does not match its checksum, so it is not served; "
            "an operator must restore it from a backup (the server's log names it)"
        )
        return JSONResponse({"detail": detail}, status_code=500)

    @app.exception_handler(OperationalError)
    async def database_away(_request: Request, err: OperationalError) -> JSONResponse:
        log.error("database: %s", err.orig)  # restarting, unreachable, locked: for operators
        detail = "the database is unavailable for a moment; try again shortly"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(IllegalTransition)
    async def illegal(_request: Request, err: IllegalTransition) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = _redacted(err.errors(), request.url.path)
        if is_tes(request.url.path):  # TES's 400, naming the field
            return tes_error(400, _first(_printable(errors)))
        return JSONResponse({"detail": jsonable_encoder(_printable(errors))}, 422)

    app.add_middleware(
        RequestLimits, limits=state.settings.limits, trusted=state.settings.trusted_proxies
    )
    app.add_middleware(HttpMetrics, stats=state.http)  # outside the limits: refusals count
    app.add_middleware(ApiVersion)
    app.add_middleware(JobRouteGate)  # outermost: the job socket reaches /s3 alone
    return app


SENSITIVE = frozenset({"value", "password", "secret", "token"})  # fields that carry a secret


def _redacted(errors: Sequence[Any], path: str) -> list[Any]:
    """A 422 echoes each wrong input; not one that may be a secret (errors are copied into logs,
    terminals and tickets): a sensitive field's, or any on a secret's route, where a value put in
    the wrong place is a secret still. Sensitive keys of an echoed object read `***` too."""
    everything = path.startswith("/api/v1/secrets/")
    out = []
    for error in errors:
        if isinstance(error, dict) and "input" in error:
            named = SENSITIVE & {str(part) for part in error.get("loc", ())}
            given = error["input"]
            if everything or named:
                error = {**error, "input": "***"}
            elif isinstance(given, dict):
                error = {
                    **error,
                    "input": {k: "***" if k in SENSITIVE else v for k, v in given.items()},
                }
        out.append(error)
    return out


def _first(errors: list[Any]) -> str:
    """The first problem of a 422's list as one line: `body.executors: Field required`."""
    if not errors or not isinstance(errors[0], dict):
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _printable(value: Any) -> Any:
    """A 422's errors echo the input, which may hold what JSON cannot carry (NaN and infinities,
    bytes that are not UTF-8, a lone surrogate such as `\\ud800`): those are given as text, so
    the answer says what was wrong."""
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
    if isinstance(value, str):
        return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return value
