"""What `/metrics` shows of the gateway since this server started: requests by deployment, route
and status, tokens, and a latency histogram (a Prometheus collector the API's `/metrics` route
adds to its own, `api/routers/kpis.py`). Names and labels are a contract with alerts and
dashboards (deploy/prometheus/aicc-alerts.yaml, docs/gateway.md): they do not change."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric

from aicc.gateway import counted
from aicc.services.serving import gateway as gw

# Latency buckets of the Prometheus histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Stats:
    """The gateway's counters, in a private registry (two servers in one process never share
    counts), added up over a server's `workers` by `counted.py`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        where = ["project", "deployment"]
        self.requests = Counter(
            "aicc_gateway_requests",
            "Requests through the gateway, by what the client got.",
            [*where, "route", "status"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "aicc_gateway_tokens",
            "Tokens of answered requests.",
            [*where, "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aicc_gateway_request_seconds",
            "From the request's arrival to its record (the answer's end).",
            where,
            buckets=BUCKETS,
            registry=self.registry,
        )

        # service tiers (gateway/tiers.py): latency by tier, and each tier's p95 objective
        self.tier_latency = Histogram(
            "aicc_gateway_tier_request_seconds",
            "From the request's arrival to its record, by its key's service tier.",
            [*where, "tier"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.objective = Gauge(
            "aicc_gateway_tier_objective_seconds",
            "Each service tier's p95 latency objective (gateway.tiers.objectives_ms).",
            ["tier"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        # a request held through a cold start: from its arrival to the replica's first byte
        self.cold_start = Histogram(
            "aicc_gateway_cold_start_seconds",
            "A request held while its deployment started a replica: arrival to first byte.",
            where,
            buckets=BUCKETS,
            registry=self.registry,
        )

    def add(self, deployment: str, record: gw.RequestRecord) -> None:
        where = (record.project_id, deployment)
        self.requests.labels(*where, record.route, str(record.status)).inc()
        for kind, n in (("prompt", record.prompt_tokens), ("completion", record.completion_tokens)):
            self.tokens.labels(*where, kind).inc(n)
        self.latency.labels(*where).observe(record.latency_us / 1e6)
        if record.status != 429:
            self.tier_latency.labels(*where, str(record.tier)).observe(record.latency_us / 1e6)

    def collect(self) -> Iterator[Metric]:
        yield from counted.collect(self.registry, "aicc_gateway_")
