"""The control loop's own figures for `/metrics`, in this process's memory: how long each step of
a pass took (`step="schedule"` is the scheduler's cycle), the passes that failed, and whether
this server leads. Every server exports them; only the leader's steps move, so `sum` over
servers of `aicc_controller_leading` is 1 in a healthy center. With `workers`, the loops run in
the first process, which serves its figures on loopback, and the workers relay them (`Relayed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Timings:
    def __init__(self, leading: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.steps = Histogram(
            "aicc_controller_step_seconds",
            "How long each step of a control pass took on the leader; step=schedule is the "
            "scheduler's cycle.",
            ["step"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "aicc_controller_pass_failures",
            "Control passes that raised (the next pass retries).",
            registry=self.registry,
        )
        leads = Gauge(
            "aicc_controller_leading",
            "1 while this server holds the controller lease and runs the loops.",
            registry=self.registry,
        )
        leads.set_function(lambda: 1.0 if leading() else 0.0)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps.labels(name).observe(time.perf_counter() - started)

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()

    def serve(self) -> int:
        """Serve these figures on a loopback port of its own, for the workers to relay."""
        server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        return int(server.server_port)


class Relayed:
    """The figures of the loops of another process (`Timings.serve`), read at each scrape."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def collect(self) -> Iterator[Metric]:
        try:  # on loopback, never through a proxy the environment names (trust_env)
            answer = httpx.get(self.url, timeout=2.0, trust_env=False)
            answer.raise_for_status()
        except httpx.HTTPError:  # the first process is restarting: no loop figures this scrape
            log.warning("the loops' figures at %s could not be read", self.url)
            return
        yield from text_string_to_metric_families(answer.text)
