"""The gate of the job socket: a request that came through a Unix socket reaches the S3 routes
(`/s3`, `/s3/...`) alone; any other path is a 404 before any route, middleware or the portal
sees it, and a websocket is refused.

Why: the server listens on a Unix socket for jobs alone (its job socket, aicc/server.py;
executors/serverroute.py relays a job's connections to it), never for anyone else, so a
request without a TCP address is a job's. Through it a job reaches the center's storage as
any S3 client does (SigV4 with the user's own keys, checked by the S3 routes), and nothing of
the control plane: not the API, `/healthz`, `/metrics` nor the portal. Keyed on the connection,
not on anything the request says: uvicorn gives a TCP connection's scope its (host, port),
and a Unix socket's none or (path, None); anything but a TCP address is gated, so a server
that told them apart otherwise would refuse too much, never too little.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aicc.s3.routes import MOUNT

NOT_HERE = (
    "not found: the job route to the server answers its S3 endpoint alone ({mount}/BUCKET/KEY, "
    "with an S3 key of yours); the API and the portal are reached from outside the job"
)


def through_job_socket(scope: Scope) -> bool:
    """Whether the request came on a connection without a TCP address (the job socket)."""
    server = scope.get("server")
    return not (isinstance(server, tuple | list) and len(server) == 2 and type(server[1]) is int)


def allowed(path: str) -> bool:
    return path == MOUNT or path.startswith(MOUNT + "/")


class JobRouteGate:
    """404 for every path but the S3 endpoint's, on the job socket; other requests pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not through_job_socket(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and allowed(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})  # uvicorn answers 403
            return
        detail = NOT_HERE.format(mount=MOUNT)
        await JSONResponse({"detail": detail}, status_code=404)(scope, receive, send)
