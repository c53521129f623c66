"""The OpenAI-compatible gateway under `/v1` (docs/contracts.md §9, docs/gateway.md): an API key
from `aicc key create` calls its project's deployments by name (`model`). `router` is what the API
mounts (`api/app.py`, first: `/v1` carries the most requests); the app sets the server's
`Gateway` as `app.state.gateway`, which every route here answers from.

These routes speak OpenAI's API, not AICC's: errors are `{"error": {...}}` (`errors.py`), and
they stay out of /openapi.json (whose walk and clients are about `/api/v1` and user tokens).
The routes: models, chat and text completions, embeddings, moderations, and a table model's
`/v1/deployments/{name}/predict`. A route reads the key and the request, then hands it to
`forward.py`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from aicc.gateway.errors import error, not_found, store_down
from aicc.gateway.forward import dispatch
from aicc.gateway.state import Gateway
from aicc.services.serving import gateway as gw
from aicc.services.serving.api_keys import PREFIX

router = APIRouter(prefix="/v1", tags=["gateway"], include_in_schema=False)


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _grant(request: Request, gateway: Gateway) -> gw.Grant | JSONResponse:
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not secret.startswith(PREFIX):
        return error(
            401,
            "missing or malformed API key: send `Authorization: Bearer aicc-sk-...` with a key "
            "from `aicc key create`",
            "invalid_request_error",
            "invalid_api_key",
        )
    try:
        grant = await gateway.grant(secret)
    except Exception:
        return store_down()
    if grant is None:
        return error(401, "invalid or revoked API key", "invalid_request_error", "invalid_api_key")
    return grant


@router.get("/models")
async def gateway_models(request: Request) -> Response:
    gateway = _gateway(request)
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    found = await asyncio.to_thread(_models, gateway, grant)
    return JSONResponse({"object": "list", "data": [_model(m, grant) for m in found]})


@router.get("/models/{name}")
async def gateway_model(name: str, request: Request) -> Response:
    gateway = _gateway(request)
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    found = [m for m in await asyncio.to_thread(_models, gateway, grant) if m.name == name]
    return JSONResponse(_model(found[0], grant)) if found else not_found(name)


def _models(gateway: Gateway, grant: gw.Grant) -> list[gw.Model]:
    with gateway.db.reader() as session:
        return gw.models(session, grant)


def _model(model: gw.Model, grant: gw.Grant) -> dict[str, Any]:
    created = int(model.created_at.timestamp())
    return {"id": model.name, "object": "model", "created": created, "owned_by": grant.project_id}


@router.post("/chat/completions")
async def gateway_chat(request: Request) -> Response:
    return await _forward(request, "chat", "/v1/chat/completions")


@router.post("/completions")
async def gateway_completions(request: Request) -> Response:
    return await _forward(request, "completions", "/v1/completions")


@router.post("/embeddings")
async def gateway_embeddings(request: Request) -> Response:
    return await _forward(request, "embeddings", "/v1/embeddings")


@router.post("/moderations")
async def gateway_moderations(request: Request) -> Response:
    """A classifier deployment's scores (`aicc/serving`'s sequence-classification models)."""
    return await _forward(request, "moderations", "/v1/moderations")


@router.post("/deployments/{name}/predict")
async def gateway_predict(name: str, request: Request) -> Response:
    """A plain HTTP model (a template's `predict.py` behind `/predict`): the body as it is."""
    return await _forward(request, "predict", "/predict", name=name)


async def _forward(request: Request, route: str, path: str, name: str | None = None) -> Response:
    gateway = _gateway(request)
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    body = await request.body()
    payload: Any = None
    if route != "predict" or name is None:
        try:
            payload = json.loads(body)
        except ValueError:
            return error(400, "the body must be a JSON object", "invalid_request_error")
        if not isinstance(payload, dict):
            return error(400, "the body must be a JSON object", "invalid_request_error")
        name = payload.get("model")
        if not isinstance(name, str) or not name:
            return error(
                400, "`model` must name a deployment", "invalid_request_error", None, "model"
            )
    content_type = request.headers.get("content-type")
    return await dispatch(gateway, grant, route, path, name, payload, body, content_type)
