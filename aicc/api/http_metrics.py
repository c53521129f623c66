"""HTTP metrics for `/metrics`: requests by method, route and status, and how long they took,
counted by a plain ASGI middleware (each server of several counts its own, and Prometheus sums
them; a server's `workers` add theirs up, `gateway/counted.py`).

The route is the matched template (`/api/v1/jobs/{job_id}`), never the raw path, so a caller
cannot grow the label set: what matched no route is `unmatched`.

The same middleware keeps the request log (logger `aicc.http`), as kube-apiserver's does: a line
at INFO for an answer that needs an operator's eyes (a 5xx, or one that took `SLOW_S` to start),
every request at DEBUG (`aicc serve --log-level debug`). uvicorn's own access log is off: a line
per request cost the API workers 5-10% of their CPU at 500 submits/s, and let a tenant fill the
disk with refused requests. A line names the peer, method, path (escaped, no query: it may hold
a secret), status and milliseconds to the answer's start; a stream is timed to its start too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aicc.gateway import counted

log = logging.getLogger("aicc.http")

SLOW_S = 1.0  # an answer that takes this long to start is logged at INFO, as a 5xx is
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HttpStats:
    """The collector: a private registry, so two servers in one process never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "aicc_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "aicc_http_request_duration_seconds",
            "From a request's arrival to the end of its answer (a stream: until it ends).",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def collect(self) -> Iterator[Metric]:
        yield from counted.collect(self.registry, "aicc_http_")


class HttpMetrics:
    """Counts every HTTP request that reaches the server, the refused (413, 429) included, and
    logs it (INFO when it failed or was slow, else DEBUG)."""

    def __init__(self, app: ASGIApp, stats: HttpStats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts: the app raised
        answered = 0.0  # when it started

        async def sending(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            ended = time.perf_counter()
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.stats.requests.labels(method, route, str(status)).inc()
            self.stats.seconds.labels(method, route).observe(ended - started)
            waited = (answered or ended) - started
            level = logging.INFO if status >= 500 or waited >= SLOW_S else logging.DEBUG
            if log.isEnabledFor(level):
                peer = scope.get("client") or ("-",)
                path = repr(scope["path"])[1:-1]  # a newline in it cannot forge a line
                log.log(level, '%s "%s %s" %d %.0f ms', peer[0], method, path, status, 1e3 * waited)
