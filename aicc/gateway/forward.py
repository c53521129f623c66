"""A request whose key is known, on to a replica of the deployment it names: the key's limits,
a hold through a cold start, then least-outstanding routing with retries on another replica
while no answer byte came back; an answer read whole within `gateway.max_answer_bytes`
(`bounded.py`) and metered once, or a stream handed to the relay (`relay.py`) once its first
event came. `model: "BASE:NAME"` asks deployment BASE for its adapter NAME:
the replica is told the caller's project (`x-aicc-tenant`), finds the adapter as that tenant may
see it (aicc/serving/adapters.py: another tenant's is a 404), and replicas holding the adapter
are preferred (`affinity.py`). A deployment of a model serves the adapters attached to it
(`services/serving/adapters.py`), each handed to a replica on its first request there, and
called by its alias alone too. Both `/v1` (`routes.py`) and the portal's playground (`chat_as`) come
through here, so both are routed, limited, metered and logged alike."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import aiohttp
from fastapi.responses import Response

from aicc.gateway import affinity, bounded
from aicc.gateway.admit import admit, check_answer, check_prompt, cold_start_timeout, guard
from aicc.gateway.call import Call
from aicc.gateway.errors import error, not_found, store_down, timeout
from aicc.gateway.relay import Relay, Relayed
from aicc.gateway.state import Gateway
from aicc.gateway.usage import usage
from aicc.services.jobs import endpoints
from aicc.services.serving import gateway as gw

# A replica that could not be reached: passed over a while, another one tried.
_REFUSED = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# A replica that broke the connection before any answer byte reached the client: it cannot
# have given the client anything, so another replica may take the request. (A timeout is a
# connection error too, to aiohttp: `except TimeoutError` goes before this.)
_BROKEN = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)


async def chat_as(gateway: Gateway, grant: gw.Grant, payload: dict[str, Any]) -> Response:
    """One chat request from inside the server (the portal's playground) under a grant it made
    for a signed-in person (`gw.PERSON`): held through a cold start, routed, retried, metered
    and logged as any request through `/v1`."""
    body = json.dumps(payload).encode()
    name = str(payload.get("model", ""))
    return await dispatch(
        gateway, grant, "chat", "/v1/chat/completions", name, payload, body, "application/json"
    )


async def dispatch(
    gateway: Gateway,
    grant: gw.Grant,
    route: str,
    path: str,
    name: str,
    payload: Any,
    body: bytes,
    content_type: str | None,
) -> Response:
    """A request whose key is known: to a replica of deployment `name` of the key's project
    (`BASE:ADAPTER`: of deployment BASE, with its adapter)."""
    asked = name
    name, colon, adapter = asked.partition(":")
    try:
        target = await gateway.target(grant.project_id, name)
        if target is None and not colon:  # an adapter's alias: its deployment, with it
            found = await gateway.alias(grant.project_id, name)
            if found is not None:
                (name, adapter), colon = found, ":"
                target = await gateway.target(grant.project_id, name)
        attached = None if target is None else target.adapters
        if colon and attached is not None and adapter not in attached:
            target = await gateway.fresh(grant.project_id, name)  # attached since it was read?
    except Exception:
        return store_down()
    if target is None or not grant.may_call(name):
        return not_found(asked)
    if colon and target.adapters is not None and adapter not in target.adapters:
        return not_found(asked)  # a deployment of a model serves the adapters attached to it
    if colon and name != asked.partition(":")[0] and isinstance(payload, dict):
        payload["model"] = f"{name}:{adapter}"  # an alias: the replica knows BASE:NAME only
        body = json.dumps(payload).encode()
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
    arrived = time.perf_counter()
    gateway.concurrency.begin(target.deployment_id)  # until `call.finish`
    held = not target.urls
    if held:
        try:
            target = await gateway.ready(grant.project_id, target)
        except Exception:
            gateway.concurrency.end(target.deployment_id)
            return store_down()
        except BaseException:  # the client left while it was held
            gateway.concurrency.end(target.deployment_id)
            raise
    call = Call(gateway, grant, target, route, started=arrived)
    call.held = held
    call.adapter = adapter if colon else None
    if held and not target.urls and target.waits:
        await call.finish(503, billable=False)
        return cold_start_timeout(target.name, gateway.cold_start_s, call.id)
    policy = gateway.safety.policy(target.deployment_id)
    if policy is not None:  # before admission: a refused prompt takes no tier's slot
        try:
            blocked, masked = await check_prompt(call, policy, payload)
        except BaseException:  # the client left while its event was recorded
            call.abandon()
            raise
        if blocked is not None:
            return blocked
        if masked:
            body = json.dumps(payload).encode()
    refused = await admit(call)
    if refused is not None:
        return refused
    asked_usage = True
    if (
        isinstance(payload, dict)
        and payload.get("stream") is True
        and route not in ("embeddings", "moderations")
    ):
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
    call: Call, path: str, body: bytes, content_type: str | None, asked_usage: bool
) -> Response:
    gateway = call.gateway
    tenant = call.grant.project_id
    headers = {
        "content-type": content_type or "application/json",
        "x-request-id": call.id,
        affinity.TENANT_HEADER: tenant,
    }
    deployment = call.target.deployment_id
    holders = gateway.holdings.holders(deployment, tenant, call.adapter)
    tried: set[str] = set()
    while call.attempts < gateway.settings.max_attempts:
        choice = gateway.pick(call.target, tried, holders)
        if choice is None and tried:  # every replica it knew failed: wait for another
            project = call.grant.project_id
            try:
                call.target = await gateway.ready(project, call.target, frozenset(tried))
            except Exception:
                call.drop()
                return store_down()
            choice = gateway.pick(call.target, tried, holders)
        if choice is None:
            break
        call.replica, url = choice  # http://HOST:PORT, or the replica's Unix socket
        tried.add(url)
        call.attempts += 1
        gateway.outstanding[url] = gateway.outstanding.get(url, 0) + 1
        base = "http://localhost" if url.startswith("/") else url
        token = call.target.tokens.get(url)
        sent = {**headers, **endpoints.headers(token)}
        attached = call.target.adapters or {}
        source = attached.get(call.adapter) if call.adapter else None
        try:
            if source is not None:  # the replica gets the adapter's files the first time
                await gateway.hand(url, token, source)
            upstream = await gateway.pool.client(url).post(
                base + path, data=body, headers=sent, allow_redirects=False
            )
        except _REFUSED:
            gateway.release(url)
            gateway.refuse(url)
            continue
        except TimeoutError:  # no answer in time: the replica may be working on it
            gateway.release(url)
            await call.finish(504, billable=False)
            return timeout(call.target.name, call.id)
        except _BROKEN:
            gateway.release(url)
            continue
        except asyncio.CancelledError:
            gateway.release(url)
            raise
        kind = upstream.headers.get("content-type", "")
        if upstream.status < 300:
            gateway.holdings.learn(deployment, tenant, call.adapter, url, upstream.headers)
        elif upstream.status == 404 and source is not None:  # a new replica at that address
            gateway.unhand(url, source.key)
        limits = gateway.settings
        relay = None
        if call.stream and upstream.status == 200 and kind.startswith("text/event-stream"):
            relay = Relay(
                call, upstream, url, asked_usage, guard(call), limit=limits.max_event_bytes
            )
        try:
            if relay is not None:  # its first event read before the answer's status goes out
                await relay.begin()
                return Relayed(relay, call.id)
            content = await bounded.read(upstream, limits.max_answer_bytes)
        except bounded.TooLarge as e:
            await call.finish(502, billable=False)
            return bounded.too_large(e.limit, call.id)
        except TimeoutError:
            await call.finish(504, billable=False)
            return timeout(call.target.name, call.id)
        except _BROKEN:
            continue  # nothing reached the client yet
        finally:
            if relay is None or not relay.begun:  # a relayed stream's own: closed by the relay
                upstream.release()
                gateway.release(url)
        call.first_byte()
        ok = 200 <= upstream.status < 300
        if ok:
            checked = await check_answer(call, content)
            if isinstance(checked, Response):
                await call.finish(checked.status_code, billable=True, usage=usage(content))
                return checked
            content = checked
        await call.finish(upstream.status, billable=ok, usage=usage(content) if ok else None)
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
