"""The job socket's gate (`api/jobroute.py`), as an ASGI app sees scopes: a connection without
a TCP address reaches `/s3` alone, a TCP one everything, and a websocket there is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message

from aicc.api.jobroute import JobRouteGate, allowed, through_job_socket


class Inner:
    """The app behind the gate: counts what reached it."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope.get("path", scope["type"]))


def _scope(path: str, server: object, kind: str = "http") -> dict[str, Any]:
    return {"type": kind, "path": path, "method": "GET", "headers": [], "server": server}


def _call(gate: JobRouteGate, scope: dict[str, Any]) -> list[Message]:
    """What the gate sent for one request (nothing: it passed the request on)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(gate(scope, receive, send))
    return sent


def test_a_connection_is_the_job_sockets_unless_it_has_a_tcp_address() -> None:
    assert not through_job_socket(_scope("/", ("127.0.0.1", 8080)))
    assert not through_job_socket(_scope("/", ("::1", 8080)))
    for server in (None, ("/home/aicc/run/route/8080.sock", None), ("x",), ("h", "80")):
        assert through_job_socket(_scope("/", server)), server


def test_the_s3_mount_alone_is_allowed() -> None:
    assert allowed("/s3") and allowed("/s3/") and allowed("/s3/default/corpus/1/a.csv")
    for path in ("/s3x", "/s3x/b", "/", "/healthz", "/api/v1/jobs", "/S3/b", "//s3/b"):
        assert not allowed(path), path


def test_the_gate_passes_tcp_and_s3_and_answers_404_else() -> None:
    inner = Inner()
    gate = JobRouteGate(inner)
    unix = ("/run/route/8080.sock", None)
    assert _call(gate, _scope("/healthz", ("127.0.0.1", 8080))) == []
    assert _call(gate, _scope("/s3/b/k", unix)) == []
    refused = _call(gate, _scope("/api/v1/jobs", unix))
    assert refused[0]["status"] == 404 and b"S3 endpoint alone" in refused[1]["body"]
    closed = _call(gate, _scope("/s3/b", unix, kind="websocket"))
    assert closed == [{"type": "websocket.close", "code": 1008}]
    assert _call(gate, {"type": "lifespan"}) == []
    assert inner.paths == ["/healthz", "/s3/b/k", "lifespan"] and len(refused) == 2
