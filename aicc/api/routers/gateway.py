"""The OpenAI-compatible gateway under `/v1` (CONTRACTS §9, docs/gateway.md): an API key from
`aicc key create` calls its project's deployments by name (`model`). Requests are forwarded to
a ready replica (least outstanding requests), retried on another while no answer byte came
back, streamed through event by event, metered once.

These routes speak OpenAI's API, not AICC's: errors are `{"error": {...}}`, and they stay out
of /openapi.json (whose walk and clients are about `/api/v1` and user tokens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from aicc.api.deps import get_state
from aicc.api.gateway import Gateway
from aicc.services import endpoints
from aicc.services import gateway as gw
from aicc.services.api_keys import PREFIX
from aicc.services.common import new_id, utcnow

router = APIRouter(prefix="/v1", tags=["gateway"], include_in_schema=False)
log = logging.getLogger(__name__)

# A replica that could not be reached: passed over a while, another one tried.
_REFUSED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# A replica that broke the connection before any answer byte reached the client: it cannot
# have given the client anything, so another replica may take the request. (A timeout is a
# connection error too, to aiohttp: `except TimeoutError` goes before this.)
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)
_tasks: set[asyncio.Task[None]] = set()  # records written after the client left


def error(
    status: int,
    message: str,
    kind: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An answer OpenAI's clients understand."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


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
        return _store_down()
    if grant is None:
        return error(401, "invalid or revoked API key", "invalid_request_error", "invalid_api_key")
    return grant


def _store_down() -> JSONResponse:
    log.exception("gateway: the store did not answer")
    return error(
        503,
        "the gateway cannot read its store; retry shortly",
        "server_error",
        "store_unavailable",
        headers={"Retry-After": "5"},
    )


def _not_found(name: str) -> JSONResponse:
    return error(
        404,
        f"The model `{name}` does not exist or this key may not call it",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


@router.get("/models")
async def gateway_models(request: Request) -> Response:
    gateway = get_state(request).gateway
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    found = await asyncio.to_thread(_models, gateway, grant)
    return JSONResponse({"object": "list", "data": [_model(m, grant) for m in found]})


@router.get("/models/{name}")
async def gateway_model(name: str, request: Request) -> Response:
    gateway = get_state(request).gateway
    grant = await _grant(request, gateway)
    if isinstance(grant, JSONResponse):
        return grant
    found = [m for m in await asyncio.to_thread(_models, gateway, grant) if m.name == name]
    return JSONResponse(_model(found[0], grant)) if found else _not_found(name)


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


@router.post("/deployments/{name}/predict")
async def gateway_predict(name: str, request: Request) -> Response:
    """A plain HTTP model (a template's `predict.py` behind `/predict`): the body as it is."""
    return await _forward(request, "predict", "/predict", name=name)


class _Call:
    """One request on its way: what its record will say."""

    def __init__(self, gateway: Gateway, grant: gw.Grant, target: gw.Target, route: str) -> None:
        self.gateway, self.grant, self.target, self.route = gateway, grant, target, route
        self.id = new_id("req")
        self.started = time.perf_counter()
        self.attempts = 0
        self.replica: str | None = None
        self.stream = False
        self.finished = False  # `finish` ran: counted out of flight and recorded

    def record(
        self, status: int, *, billable: bool, usage: dict[str, Any] | None = None
    ) -> gw.RequestRecord:
        usage = usage or {}
        return gw.RequestRecord(
            id=self.id,
            org_id=self.grant.org_id,
            project_id=self.grant.project_id,
            deployment_id=self.target.deployment_id,
            key_id=self.grant.key_id,
            route=self.route,
            status=status,
            stream=self.stream,
            billable=billable,
            prompt_tokens=_tokens(usage.get("prompt_tokens")),
            completion_tokens=_tokens(usage.get("completion_tokens")),
            latency_us=int((time.perf_counter() - self.started) * 1e6),
            attempts=self.attempts,
            replica=self.replica,
            at=utcnow(),
        )

    async def finish(
        self, status: int, *, billable: bool, usage: dict[str, Any] | None = None
    ) -> None:
        if self.finished:
            return
        self.finished = True
        self.gateway.concurrency.end(self.target.deployment_id)
        await self.gateway.finish(
            self.target.name, self.record(status, billable=billable, usage=usage)
        )

    def drop(self) -> None:
        """Ended unrecorded, as the store its record would go to does not answer: still no
        longer in flight (a count left behind would keep its deployment from scaling down)."""
        if not self.finished:
            self.finished = True
            self.gateway.concurrency.end(self.target.deployment_id)

    def abandon(self) -> None:
        """The request was cancelled before it ended (the client left and the server cancelled
        its handler): no longer in flight, and recorded as the client's leaving, 499, on a task
        of its own (this one is being cancelled)."""
        if not self.finished:
            task = asyncio.get_running_loop().create_task(self.finish(499, billable=False))
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)


def _tokens(value: object) -> int:
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0


async def _forward(request: Request, route: str, path: str, name: str | None = None) -> Response:
    gateway = get_state(request).gateway
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
    return await _dispatch(gateway, grant, route, path, name, payload, body, content_type)


async def chat_as(gateway: Gateway, grant: gw.Grant, payload: dict[str, Any]) -> Response:
    """One chat request from inside the server (the portal's playground) under a grant it made
    for a signed-in person (`gw.PERSON`): held through a cold start, routed, retried, metered
    and logged as any request through `/v1`."""
    body = json.dumps(payload).encode()
    name = str(payload.get("model", ""))
    return await _dispatch(
        gateway, grant, "chat", "/v1/chat/completions", name, payload, body, "application/json"
    )


async def _dispatch(
    gateway: Gateway,
    grant: gw.Grant,
    route: str,
    path: str,
    name: str,
    payload: Any,
    body: bytes,
    content_type: str | None,
) -> Response:
    """A request whose key is known: to a replica of deployment `name` of the key's project."""
    if not grant.may_call(name):
        return _not_found(name)
    try:
        target = await gateway.target(grant.project_id, name)
    except Exception:
        return _store_down()
    if target is None:
        return _not_found(name)
    wait = gateway.throttle(grant)
    if wait:
        seconds = max(1, math.ceil(wait))
        return error(
            429,
            f"this key may send {grant.rpm} requests a minute; retry after {seconds} s",
            "requests",
            "rate_limit_exceeded",
            headers={"Retry-After": str(seconds)},
        )
    if gateway.quota_spent(grant):
        return error(
            429,
            f"this key's {grant.tokens_per_month} tokens of this month are spent",
            "insufficient_quota",
            "insufficient_quota",
        )
    gateway.concurrency.begin(target.deployment_id)  # until `call.finish`
    if not target.urls:
        try:
            target = await gateway.ready(grant.project_id, target)
        except Exception:
            gateway.concurrency.end(target.deployment_id)
            return _store_down()
        except BaseException:  # the client left while it was held
            gateway.concurrency.end(target.deployment_id)
            raise
    call = _Call(gateway, grant, target, route)
    asked_usage = True
    if isinstance(payload, dict) and payload.get("stream") is True and route != "embeddings":
        call.stream = True
        options = payload.get("stream_options")
        options = options if isinstance(options, dict) else {}
        asked_usage = options.get("include_usage") is True
        if not asked_usage:  # metering needs the last chunk's usage; the client gets none
            payload["stream_options"] = {**options, "include_usage": True}
            body = json.dumps(payload).encode()
    try:
        return await _send(call, path, body, content_type, asked_usage)
    except asyncio.CancelledError:
        call.abandon()
        raise


async def _send(
    call: _Call, path: str, body: bytes, content_type: str | None, asked_usage: bool
) -> Response:
    gateway = call.gateway
    headers = {"content-type": content_type or "application/json", "x-request-id": call.id}
    tried: set[str] = set()
    while call.attempts < gateway.settings.max_attempts:
        choice = gateway.pick(call.target, tried)
        if choice is None and tried:  # every replica it knew failed: wait for another
            project = call.grant.project_id
            try:
                call.target = await gateway.ready(project, call.target, frozenset(tried))
            except Exception:
                call.drop()
                return _store_down()
            choice = gateway.pick(call.target, tried)
        if choice is None:
            break
        call.replica, url = choice  # http://HOST:PORT, or the replica's Unix socket
        tried.add(url)
        call.attempts += 1
        gateway.outstanding[url] = gateway.outstanding.get(url, 0) + 1
        base = "http://localhost" if url.startswith("/") else url
        sent = {**headers, **endpoints.headers(call.target.tokens.get(url))}
        try:
            upstream = await gateway.client(url).post(
                base + path, data=body, headers=sent, allow_redirects=False
            )
        except _REFUSED:
            _release(gateway, url)
            gateway.refuse(url)
            continue
        except TimeoutError:  # no answer in time: the replica may be working on it
            _release(gateway, url)
            await call.finish(504, billable=False)
            return _timeout(call)
        except _BROKEN:
            _release(gateway, url)
            continue
        except asyncio.CancelledError:
            _release(gateway, url)
            raise
        kind = upstream.headers.get("content-type", "")
        if call.stream and upstream.status == 200 and kind.startswith("text/event-stream"):
            return _Relayed(_Relay(call, upstream, url, asked_usage), call.id)
        try:
            content = await upstream.read()
        except TimeoutError:
            await call.finish(504, billable=False)
            return _timeout(call)
        except _BROKEN:
            continue  # nothing reached the client yet
        finally:
            upstream.release()
            _release(gateway, url)
        ok = 200 <= upstream.status < 300
        await call.finish(upstream.status, billable=ok, usage=_usage(content) if ok else None)
        out = {"x-request-id": call.id}
        return Response(content, upstream.status, headers=out, media_type=kind or None)
    status = 503 if not call.target.urls else 502
    await call.finish(status, billable=False)
    if status == 503:
        return error(
            503,
            f"deployment `{call.target.name}` has no ready replica; retry shortly",
            "server_error",
            "no_ready_replica",
            headers={"Retry-After": "5", "x-request-id": call.id},
        )
    return error(
        502,
        f"no replica of `{call.target.name}` answered after {call.attempts} attempts",
        "server_error",
        "upstream_unreachable",
        headers={"x-request-id": call.id},
    )


def _timeout(call: _Call) -> JSONResponse:
    return error(
        504,
        f"the replica of `{call.target.name}` did not answer in time",
        "server_error",
        "upstream_timeout",
        headers={"x-request-id": call.id},
    )


def _release(gateway: Gateway, url: str) -> None:
    gateway.outstanding[url] = gateway.outstanding.get(url, 1) - 1


def _usage(content: bytes) -> dict[str, Any] | None:
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    usage = answer.get("usage") if isinstance(answer, dict) else None
    return usage if isinstance(usage, dict) else None


class _Relay:
    """The replica's events as each arrives. The record is written before `[DONE]` goes out;
    the usage chunk the gateway asked for is held back from a client that did not."""

    def __init__(
        self, call: _Call, upstream: aiohttp.ClientResponse, url: str, asked_usage: bool
    ) -> None:
        self.call, self.upstream, self.url, self.asked_usage = call, upstream, url, asked_usage
        self.usage: dict[str, Any] | None = None
        self.done = False  # the record is written
        self.status = 499  # until the replica's answer ends: the client left
        self.closed = False

    async def events(self) -> AsyncIterator[bytes]:
        buffer = b""
        try:
            async for chunk in self.upstream.content.iter_any():
                buffer += chunk.replace(b"\r\n", b"\n")
                while (end := buffer.find(b"\n\n")) >= 0:
                    event, buffer = buffer[: end + 2], buffer[end + 2 :]
                    data = _data(event)
                    if data == b"[DONE]":
                        await self.call.finish(200, billable=True, usage=self.usage)
                        self.done = True
                    elif _has_usage(data):
                        found = _usage(data)
                        if found:
                            self.usage = found
                            if not self.asked_usage and not _choices(data):
                                continue
                    yield event
            if buffer:
                yield buffer
            self.status = 200  # the replica ended without `[DONE]`
        except (aiohttp.ClientError, TimeoutError):
            self.status = 502  # the replica broke off mid-answer; the client has what it sent
        finally:
            await self.close()

    async def close(self) -> None:
        """Once, however the response ended: the replica's connection back, its count of
        requests in flight down, and the record written (billed like a whole answer: the
        replica worked for it)."""
        if self.closed:
            return
        self.closed = True
        self.upstream.release()  # the connection closed if the answer did not end
        _release(self.call.gateway, self.url)
        if not self.done:
            task = asyncio.get_running_loop().create_task(
                self.call.finish(self.status, billable=True, usage=self.usage)
            )
            _tasks.add(task)
            task.add_done_callback(_tasks.discard)


class _Relayed(StreamingResponse):
    """A relayed stream that is closed even when its events are never read: a client gone
    before the first byte leaves Starlette's body iterator unstarted, and an async generator
    that never started runs no `finally`."""

    def __init__(self, relay: _Relay, request_id: str) -> None:
        super().__init__(
            relay.events(),
            media_type="text/event-stream",
            headers={"x-request-id": request_id, "cache-control": "no-cache"},
        )
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.relay.close()


def _has_usage(data: bytes) -> bool:
    """A chunk with a usage object (most chunks say `"usage": null`, or nothing)."""
    at = data.find(b'"usage"')
    return at >= 0 and data[at + 7 : at + 16].lstrip(b": ")[:4] not in (b"null", b"")


def _data(event: bytes) -> bytes:
    """The `data:` of one server-sent event (one line; OpenAI's servers send one)."""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            return line[5:].strip()
    return b""


def _choices(data: bytes) -> bool:
    try:
        return bool(json.loads(data).get("choices"))
    except (ValueError, AttributeError):
        return False
