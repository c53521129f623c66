"""OpenAI's files, batches and fine-tuning jobs under `/v1` (docs/interop.md), for the stock
`openai` client with an API key: `client.files`, `client.batches`, `client.fine_tuning.jobs`.

A key acts as its maker, narrowed to its project (`services/serving/acting.py`), so the native
API's rules hold as they are: another project's object is a 404, every write is audited, a
batch's requests are metered as the key's and a fine-tune's training as a job of its project.
Answers and refusals are OpenAI's shapes (`errors.py`): a field or call this center does not
support is a 400 naming it, never a 500. `unknown` answers any other `/v1` path as OpenAI does
(a 404 in its error shape); the API mounts it after every other router."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.routing import Match

from aicc.core.tenancy import Principal
from aicc.gateway.errors import error
from aicc.gateway.routes import _gateway, _grant
from aicc.services.common import ServiceError
from aicc.services.jobs import openai_files
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.jobs.views import OpenAIFile
from aicc.services.models import fine_tuning
from aicc.services.models.views import FineTuningJob
from aicc.services.serving import acting, batches
from aicc.services.serving import gateway as gw
from aicc.services.serving.views import OpenAIBatch

router = APIRouter(prefix="/v1", tags=["openai"], include_in_schema=False)
unknown = APIRouter(include_in_schema=False)
T = TypeVar("T")
MAX_LIMIT = 10_000
_STATUS = {422: 400}  # OpenAI answers a bad request 400


def _refuse(err: ServiceError) -> JSONResponse:
    status = _STATUS.get(err.status, err.status)
    kind = "invalid_request_error" if status < 500 else "server_error"
    param = err.detail.split(":", 1)[0] if status == 400 and ":" in err.detail else None
    if param is not None and (" " in param or len(param) > 64):
        param = None
    return error(status, err.detail, kind, None, param)


async def _as_key(
    request: Request, work: Callable[[Session, Principal, gw.Grant], T]
) -> T | JSONResponse:
    """`work` in one transaction as the request's key (its answer), or the refusal."""
    gateway = _gateway(request)
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant

    def run() -> T:
        with gateway.db.session() as session:
            who = acting.principal(session, grant.key_id)
            return work(session, who, grant)

    try:
        return await asyncio.to_thread(run)
    except ServiceError as err:
        return _refuse(err)


def _answer(found: BaseModel | JSONResponse) -> JSONResponse:
    if isinstance(found, JSONResponse):
        return found
    return JSONResponse(found.model_dump(mode="json"))


def _page(found: list[Any] | JSONResponse, limit: int) -> JSONResponse:
    if isinstance(found, JSONResponse):
        return found
    items = [f.model_dump(mode="json") for f in found[:limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": items,
            "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None,
            "has_more": len(found) > limit,
        }
    )


def _limit(request: Request, default: int) -> int | JSONResponse:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return error(
            400, f"limit: a number from 1 to {MAX_LIMIT}", "invalid_request_error", None, "limit"
        )
    return int(raw)


async def _listed(
    request: Request, lister: Callable[[Session, Principal, int, str | None], list[T]]
) -> Response:
    """A page of what `lister` finds after the query's `after` cursor (20 unless `limit` says):
    it is asked for one more than the page, so `has_more` is known without a count."""
    limit = _limit(request, 20)
    if isinstance(limit, JSONResponse):
        return limit
    after, asked = request.query_params.get("after"), limit + 1
    return _page(await _as_key(request, lambda s, w, _: lister(s, w, asked, after)), limit)


def _strings(body: dict[str, Any], names: tuple[str, ...]) -> JSONResponse | None:
    """The refusal of a create whose required text field is missing or not a string."""
    for name in names:
        if not isinstance(body.get(name), str):
            return error(400, f"{name}: required, a string", "invalid_request_error", None, name)
    return None


async def _body(request: Request, known: set[str]) -> dict[str, Any] | JSONResponse:
    """The JSON object of a create, read as the gateway reads a request's; a field this center
    does not take is refused by name (not ignored: the caller would believe it applied)."""
    try:
        payload = json.loads(await request.body())
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return error(400, "the body must be a JSON object", "invalid_request_error")
    for name, value in payload.items():
        if name not in known and value is not None:
            return error(
                400,
                f"{name}: not supported by this server (docs/interop.md lists what is)",
                "invalid_request_error",
                "unsupported_parameter",
                name,
            )
    return payload


# --- files


@router.post("/files")
async def openai_files_create(request: Request) -> Response:
    gateway = _gateway(request)
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    limit = gateway.settings.max_file_bytes
    try:
        form = await request.form(max_files=1, max_fields=4)
    except HTTPException as err:  # not multipart as Starlette reads it: more parts, a bad one
        return error(400, f"file: {err.detail}", "invalid_request_error", None, "file")
    upload, purpose = form.get("file"), form.get("purpose")
    if upload is None or isinstance(upload, str):
        return error(
            400, "file: attach the file as multipart `file`", "invalid_request_error", None, "file"
        )
    if not isinstance(purpose, str):
        return error(
            400, "purpose: give `batch` or `fine-tune`", "invalid_request_error", None, "purpose"
        )
    data = await upload.read(limit + 1)
    await form.close()
    blobs = request.app.state.aicc.blobs
    filename = upload.filename or "file"
    try:
        openai_files.check_purpose(purpose)
        sha, size = await asyncio.to_thread(openai_files.keep, blobs, data, max_bytes=limit)
    except ServiceError as err:
        return _refuse(err)

    def work(session: Session, who: Principal, grant: gw.Grant) -> OpenAIFile:
        return openai_files.create(
            session,
            who,
            key_id=grant.key_id,
            sha256=sha,
            size=size,
            filename=filename,
            purpose=purpose,
        )

    return _answer(await _as_key(request, work))


@router.get("/files")
async def openai_files_list(request: Request) -> Response:
    limit = _limit(request, MAX_LIMIT)
    if isinstance(limit, JSONResponse):
        return limit
    purpose = request.query_params.get("purpose")
    after = request.query_params.get("after")
    newest = request.query_params.get("order", "desc") != "asc"

    def work(session: Session, who: Principal, _: gw.Grant) -> list[OpenAIFile]:
        return openai_files.list_files(
            session, who, purpose=purpose, limit=limit + 1, after=after, newest_first=newest
        )

    return _page(await _as_key(request, work), limit)


@router.get("/files/{file_id}")
async def openai_files_get(file_id: str, request: Request) -> Response:
    return _answer(await _as_key(request, lambda s, w, _: openai_files.get(s, w, file_id)))


@router.get("/files/{file_id}/content")
async def openai_files_content(file_id: str, request: Request) -> Response:
    blobs = request.app.state.aicc.blobs
    found = await _as_key(request, lambda s, w, _: openai_files.content(s, w, blobs, file_id))
    if isinstance(found, JSONResponse):
        return found
    return Response(found, media_type="application/octet-stream")


@router.delete("/files/{file_id}")
async def openai_files_delete(file_id: str, request: Request) -> Response:
    found = await _as_key(request, lambda s, w, _: openai_files.delete(s, w, file_id))
    if isinstance(found, JSONResponse):
        return found
    return JSONResponse({"id": found.id, "object": "file", "deleted": True})


# --- batches

BATCH_FIELDS = {"input_file_id", "endpoint", "completion_window", "metadata"}


@router.post("/batches")
async def openai_batches_create(request: Request) -> Response:
    body = await _body(request, BATCH_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    refused = _strings(body, ("input_file_id", "endpoint", "completion_window"))
    if refused is not None:
        return refused
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return error(
            400, "metadata: an object of strings", "invalid_request_error", None, "metadata"
        )

    def work(session: Session, who: Principal, grant: gw.Grant) -> OpenAIBatch:
        return batches.create(
            session,
            who,
            key_id=grant.key_id,
            input_file_id=body["input_file_id"],
            endpoint=body["endpoint"],
            completion_window=body["completion_window"],
            metadata=metadata,
        )

    return _answer(await _as_key(request, work))


@router.get("/batches")
async def openai_batches_list(request: Request) -> Response:
    return await _listed(
        request, lambda s, w, n, after: batches.list_batches(s, w, limit=n, after=after)
    )


@router.get("/batches/{batch_id}")
async def openai_batches_get(batch_id: str, request: Request) -> Response:
    return _answer(await _as_key(request, lambda s, w, _: batches.get(s, w, batch_id)))


@router.post("/batches/{batch_id}/cancel")
async def openai_batches_cancel(batch_id: str, request: Request) -> Response:
    return _answer(await _as_key(request, lambda s, w, _: batches.cancel(s, w, batch_id)))


# --- fine-tuning

FINE_TUNE_FIELDS = {"model", "training_file", "hyperparameters", "suffix", "seed", "metadata"}


@router.post("/fine_tuning/jobs")
async def openai_fine_tuning_create(request: Request) -> Response:
    body = await _body(request, FINE_TUNE_FIELDS)
    if isinstance(body, JSONResponse):
        return body
    refused = _strings(body, ("model", "training_file"))
    if refused is not None:
        return refused
    hyper, seed, suffix = body.get("hyperparameters"), body.get("seed"), body.get("suffix")
    if hyper is not None and not isinstance(hyper, dict):
        return error(
            400, "hyperparameters: an object", "invalid_request_error", None, "hyperparameters"
        )
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed < 2**31):
        return error(
            400, "seed: a whole number from 0 to 2147483647", "invalid_request_error", None, "seed"
        )
    if suffix is not None and not isinstance(suffix, str):
        return error(400, "suffix: a string", "invalid_request_error", None, "suffix")
    state = request.app.state.aicc
    limits = SubmitLimits.of(state.settings, local_only=True)

    def work(session: Session, who: Principal, grant: gw.Grant) -> FineTuningJob:
        return fine_tuning.create(
            session,
            who,
            state.blobs,
            key_id=grant.key_id,
            training_file=body["training_file"],
            model=body["model"],
            hyperparameters=hyper,
            suffix=suffix,
            seed=seed,
            metadata=body.get("metadata"),
            zone=state.settings.site.timezone,
            limits=limits,
        )

    return _answer(await _as_key(request, work))


@router.get("/fine_tuning/jobs")
async def openai_fine_tuning_list(request: Request) -> Response:
    return await _listed(
        request, lambda s, w, n, after: fine_tuning.list_jobs(s, w, limit=n, after=after)
    )


@router.get("/fine_tuning/jobs/{ft_id}")
async def openai_fine_tuning_get(ft_id: str, request: Request) -> Response:
    return _answer(await _as_key(request, lambda s, w, _: fine_tuning.get(s, w, ft_id)))


@router.post("/fine_tuning/jobs/{ft_id}/cancel")
async def openai_fine_tuning_cancel(ft_id: str, request: Request) -> Response:
    return _answer(await _as_key(request, lambda s, w, _: fine_tuning.cancel(s, w, ft_id)))


@router.get("/fine_tuning/jobs/{ft_id}/events")
async def openai_fine_tuning_events(ft_id: str, request: Request) -> Response:
    limit = _limit(request, 20)
    if isinstance(limit, JSONResponse):
        return limit
    store = request.app.state.aicc.chunks
    found = await _as_key(request, lambda s, w, _: fine_tuning.events(s, w, store, ft_id))
    return _page(found, limit)


@router.get("/fine_tuning/jobs/{ft_id}/checkpoints")
async def openai_fine_tuning_checkpoints(ft_id: str, request: Request) -> Response:
    limit = _limit(request, 10)
    if isinstance(limit, JSONResponse):
        return limit
    store = request.app.state.aicc.chunks
    found = await _as_key(request, lambda s, w, _: fine_tuning.checkpoints(s, w, store, ft_id))
    return _page(found, limit)


def _leaves(routes: Any) -> Any:
    """Every route, those of included routers too (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _leaves(inner.routes) if inner is not None else (route,)


@unknown.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def openai_unknown(rest: str, request: Request) -> Response:
    """A `/v1` call this center does not serve (fine-tuning's pause, an assistant, ...); a
    route it serves, asked with another method, is a 405 naming the methods it takes."""
    allowed: set[str] = set()
    for route in _leaves(request.app.router.routes):
        methods = getattr(route, "methods", None)
        if methods and route.matches(request.scope)[0] is Match.PARTIAL:
            allowed |= methods
    if allowed:
        return error(
            405,
            f"{request.method} is not allowed on /v1/{rest}; use {', '.join(sorted(allowed))}",
            "invalid_request_error",
            "method_not_allowed",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return error(
        404,
        f"Unknown request URL: {request.method} /v1/{rest}: not served by this center "
        "(docs/interop.md lists what is)",
        "invalid_request_error",
        "unknown_url",
    )
