"""Limits in front of every route: the size of a request body (413) and token-bucket rate limits
per API token and per client address (429 with `Retry-After`).

A plain ASGI middleware, so it costs one dictionary look-up per request and never wraps a
streamed answer (log follow). The buckets live in this server process's memory: a restart
refills them, and each server of several behind a balancer counts its own requests.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from pydantic import IPvAnyNetwork
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.api.deps import forwarded_address
from aicc.config import Limits
from aicc.gateway.buckets import TokenBuckets

# Not counted: health probes, and the portal's static files a page load pulls in.
_EXEMPT = ("/healthz", "/static/")


def _streamed(method: str, path: str) -> bool:
    """Uploads that read their body under their own, larger limit (`limits.max_upload_mib`):
    a workdir, a data set's files from the portal (`/data/{name}/upload`), and an MLflow run's
    artifact (api/routers/mlflow.py)."""
    if method == "PUT":  # and an S3 object or part (`s3/writes.py`, at most 5 GiB, streamed)
        return path.startswith(("/mlflow/api/2.0/mlflow-artifacts/artifacts/", "/s3/"))
    if method != "POST":
        return False
    path = path.rstrip("/")
    return path == "/api/v1/workdirs" or (
        path.startswith("/data/") and path.endswith("/upload") and path.count("/") == 3
    )


def _with_files(method: str, path: str) -> bool:
    """The submit wizard's form, which may carry the job's workdir (a folder or an archive,
    spooled to disk by the form parser): held to `limits.max_upload_mib` by its declared
    size."""
    return method == "POST" and path.rstrip("/") == "/submit"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _token_key(scope: Scope) -> str | None:
    """The bearer token, hashed (the secret itself is not kept), or None without one."""
    auth = _header(scope, b"authorization")
    if not auth or auth[:7].lower() != b"bearer ":
        return None
    return hashlib.sha256(auth[7:].strip()).hexdigest()[:32]


class RequestLimits:
    """413 for a body over `limits.max_request_mib` (the workdir upload has its own limit);
    429 with `Retry-After` when the caller's token or address has no request left."""

    def __init__(self, app: ASGIApp, limits: Limits, trusted: Sequence[IPvAnyNetwork] = ()) -> None:
        self.app = app
        self.trusted = trusted  # proxies whose X-Forwarded-For names the client
        self.max_body = limits.max_request_mib * 1024 * 1024
        self.max_upload = limits.max_upload_mib * 1024 * 1024
        rate = limits.rate_limit
        self.rate_limit = rate
        self.tokens = TokenBuckets(rate.per_token_per_s, rate.per_token_burst)
        self.addresses = TokenBuckets(rate.per_address_per_s, rate.per_address_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.rate_limit.enabled:
            refused = self._throttle(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        if _streamed(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        if _with_files(scope["method"], scope["path"]):
            declared = _header(scope, b"content-length") or b""
            if not declared.isdigit() or int(declared) > self.max_upload:
                detail = (
                    f"a job submitted with its workdir declares its size (Content-Length), at "
                    f"most {self.max_upload} bytes (limits.max_upload_mib)"
                )
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server reads no more than it declared
            return
        body = await self._read_body(scope, receive)
        if body is None:
            detail = f"request body larger than the {self.max_body} byte limit"
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _throttle(self, scope: Scope) -> JSONResponse | None:
        client = scope.get("client")
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        address = forwarded_address(client[0] if client else "", forwarded, self.trusted)
        # the token's bucket first: it is the caller's own limit, and a request it refuses
        # spends nothing of the address's, which other callers behind it (a proxy, a NAT) share
        wait, who, rate, burst = 0.0, "", 0.0, 0
        token = _token_key(scope)
        if token is not None:
            wait = self.tokens.take(token)
            who, rate, burst = "token", self.tokens.rate, self.tokens.burst
        if not wait:
            wait = self.addresses.take(address)
            who, rate, burst = "address", self.addresses.rate, self.addresses.burst
        if not wait:
            return None
        seconds = max(1, math.ceil(wait))
        detail = (
            f"too many requests from this {who}: at most {rate:g} a second, bursts of {burst}; "
            f"retry after {seconds} s"
        )
        return JSONResponse(
            {"detail": detail}, status_code=429, headers={"Retry-After": str(seconds)}
        )

    async def _read_body(self, scope: Scope, receive: Receive) -> list[Message] | None:
        """The request's messages, or None as soon as they exceed the limit (declared in
        Content-Length or counted while they arrive, for a chunked body)."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return None
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            size += len(message.get("body", b""))
            if size > self.max_body:
                return None
            if not message.get("more_body", False):
                return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """The body read ahead, then the real channel (a streamed answer waits on it for the
    client's disconnect)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
