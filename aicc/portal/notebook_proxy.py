"""The notebook proxy: `/notebooks/{job_id}/...` on the AICC server, HTTP and websockets (the
kernels' channels, terminals), to the notebook's JupyterLab.

Only the notebook's owner, signed in to the portal, gets through; anyone else, another member of
the project or another tenant included, gets 404 (services/notebooks.upstream decides). The
proxy adds JupyterLab's token upstream (`Authorization: token ...`), which nobody but the server
and the notebook's process knows, and strips what belongs to AICC: its cookies, the caller's
`Authorization`. It also strips `Origin` and `Referer`, because JupyterLab compares them with its
own address, which is not the one the browser sees; the proxy does that check itself instead
(a request that changes something, and every websocket, must come from this server's own pages).

A sandboxed notebook of this machine is reached through its Unix socket (`Upstream.socket`,
services/jobs/endpoints.py), HTTP and websockets alike: no TCP port answers for it. One on another
machine (Slurm, Ray) is reached on TCP, where its forwarder passes on only connections whose
first request carries the replica's token: the proxy sends it with every request and every
websocket's upgrade (`Upstream.headers`), and drops any the browser sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from websockets.asyncio.client import ClientConnection, connect, unix_connect

from aicc.api.state import AppState
from aicc.portal.auth import SESSION_COOKIE, to_sign_in
from aicc.portal.rendering import error_page
from aicc.services.common import NotFound, utcnow
from aicc.services.jobs import endpoints, notebooks
from aicc.services.tenancy import sessions

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)
# the caller's own `X-AICC-Replica-Token` too: the proxy sends the notebook's (`_headers`)
NOT_FORWARDED = HOP_BY_HOP | {"authorization", "origin", "referer", "cookie"}
NOT_FORWARDED |= {endpoints.TOKEN_HEADER.lower()}
WS_NOT_FORWARDED = NOT_FORWARDED | {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
}


class Refused(Exception):
    """Not signed in (`signed_in` False: to the sign-in page), or not this person's running
    notebook (404), or a cross-site request (403)."""

    def __init__(self, status: int, message: str, signed_in: bool = True) -> None:
        super().__init__(message)
        self.status, self.message, self.signed_in = status, message, signed_in


def _resolve(state: AppState, conn: HTTPConnection, job_id: str) -> notebooks.Upstream:
    with state.db.reader() as session:
        me = sessions.resolve(session, conn.cookies.get(SESSION_COOKIE), now=utcnow())
        if me is None:
            raise Refused(401, "sign in to open a notebook", signed_in=False)
        try:
            return notebooks.upstream(session, state.sealer, me.who, job_id)
        except NotFound as err:
            raise Refused(404, err.detail) from None


def _same_origin(conn: HTTPConnection) -> bool:
    """Whether a browser's request comes from this server's own pages (no Origin: not a
    browser's cross-site request)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (conn.headers.get("host") or "").lower()


def _raw_path(conn: HTTPConnection) -> str:
    """The path as the browser sent it, escapes kept (a file named `a%2Fb` stays one name)."""
    raw = conn.scope.get("raw_path")
    return raw.decode("latin-1") if raw else conn.url.path


def _cookies(conn: HTTPConnection) -> str:
    """The request's cookies less AICC's own (its session above all)."""
    return "; ".join(f"{k}={v}" for k, v in conn.cookies.items() if not k.startswith("aicc_"))


def _headers(
    conn: HTTPConnection, drop: frozenset[str], upstream: notebooks.Upstream
) -> dict[str, str]:
    headers = {k: v for k, v in conn.headers.items() if k.lower() not in drop}
    headers["authorization"] = f"token {upstream.token}"
    headers.update(upstream.headers)  # its replica token, on TCP (never shown to the browser)
    cookies = _cookies(conn)
    if cookies:
        headers["cookie"] = cookies
    return headers


@router.get("/notebooks/{job_id}")
def notebook_root(job_id: str) -> Response:
    return RedirectResponse(f"/notebooks/{job_id}/", status_code=307)


@router.api_route("/notebooks/{job_id}/{path:path}", methods=METHODS)
async def notebook_http(job_id: str, path: str, request: Request) -> Response:
    state: AppState = request.app.state.aicc
    try:
        if request.method not in SAFE and not _same_origin(request):
            raise Refused(403, "cross-site request refused")
        upstream = await run_in_threadpool(_resolve, state, request, job_id)
    except Refused as err:
        if not err.signed_in and request.method == "GET":
            return to_sign_in(request)
        if "text/html" in request.headers.get("accept", ""):  # the portal's page, translated
            return await run_in_threadpool(error_page, request, err.status, "")
        return PlainTextResponse(err.message, status_code=err.status)
    url = f"{upstream.url}{_raw_path(request)}"
    directory = contextlib.ExitStack()  # the socket's directory, held until the client closes
    try:
        client = _client(upstream, directory)
    except OSError:  # its run directory is gone: it ended meanwhile
        return _starting(request)
    outgoing = client.build_request(
        request.method,
        url,
        params=request.url.query.encode(),
        headers=_headers(request, NOT_FORWARDED, upstream),
        content=await request.body(),
    )
    try:
        answer = await client.send(outgoing, stream=True)
    except httpx.ConnectError:  # its job runs, JupyterLab does not listen yet
        await client.aclose()
        directory.close()
        return _starting(request)
    except httpx.HTTPError as err:
        await client.aclose()
        directory.close()
        return PlainTextResponse(f"the notebook did not answer: {err}", status_code=502)
    headers = [
        (k, v)
        for k, v in answer.headers.multi_items()
        if k.lower() not in HOP_BY_HOP - {"content-length"}
    ]
    response = StreamingResponse(
        answer.aiter_raw(),
        status_code=answer.status_code,
        background=BackgroundTask(_close, answer, client, directory),
    )
    response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return response


def _starting(request: Request) -> Response:
    """503 while JupyterLab starts; a browser's page asks again every two seconds."""
    if "text/html" not in request.headers.get("accept", ""):
        return PlainTextResponse("the notebook is starting", status_code=503)
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" '
        'content="2"><title>JupyterLab</title></head><body><p>JupyterLab is starting… '
        "JupyterLab 正在启动…</p></body></html>"
    )
    return HTMLResponse(page, status_code=503, headers={"Retry-After": "2"})


def _client(upstream: notebooks.Upstream, directory: contextlib.ExitStack) -> httpx.AsyncClient:
    """A client to the notebook: on TCP, or through its Unix socket (dialled through
    `directory`, which the caller closes after the client). Plain HTTP: no TLS, so no
    certificate store to load on every request."""
    timeout = httpx.Timeout(300.0, connect=10.0)
    if upstream.socket is None:
        return httpx.AsyncClient(timeout=timeout, verify=False)
    path = directory.enter_context(endpoints.reachable(upstream.socket))
    transport = httpx.AsyncHTTPTransport(uds=path, verify=False)
    return httpx.AsyncClient(transport=transport, timeout=timeout)


async def _close(
    answer: httpx.Response, client: httpx.AsyncClient, directory: contextlib.ExitStack
) -> None:
    try:
        await answer.aclose()
        await client.aclose()
    finally:
        directory.close()


@router.websocket("/notebooks/{job_id}/{path:path}")
async def notebook_websocket(websocket: WebSocket, job_id: str, path: str) -> None:
    state: AppState = websocket.app.state.aicc
    try:
        if not _same_origin(websocket):
            raise Refused(403, "cross-site websocket refused")
        upstream = await run_in_threadpool(_resolve, state, websocket, job_id)
    except Refused as err:
        await _deny(websocket, 404 if err.status == 401 else err.status, err.message)
        return
    target = upstream.url.replace("http://", "ws://", 1) + _raw_path(websocket)
    if websocket.url.query:
        target += "?" + websocket.url.query
    offered = list(websocket.scope.get("subprotocols") or [])
    options: dict[str, Any] = {
        "additional_headers": _headers(websocket, WS_NOT_FORWARDED, upstream),
        "subprotocols": offered or None,
        "max_size": None,
        "compression": None,
        "open_timeout": 10,
    }
    try:
        if upstream.socket is None:
            peer = await connect(target, **options)
        else:
            with endpoints.reachable(upstream.socket) as path:
                peer = await unix_connect(path, target, **options)
    except (OSError, websockets.WebSocketException, TimeoutError) as err:
        await _deny(websocket, 502, f"the notebook did not answer: {err}")
        return
    async with peer:
        await websocket.accept(subprotocol=peer.subprotocol)
        await _pump(websocket, peer)


async def _pump(websocket: WebSocket, peer: ClientConnection) -> None:
    """Pass frames both ways until either side closes; then close the other."""

    async def down() -> None:
        async for message in peer:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)

    async def up() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await peer.send(message["bytes"])
            elif message.get("text") is not None:
                await peer.send(message["text"])

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await peer.close()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    """Refuse the upgrade with an HTTP answer where the server can send one, else close."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(message, status_code=status))
    else:
        await websocket.close(code=1008, reason=message[:120])
