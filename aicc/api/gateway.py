"""The gateway the server holds in memory (`AppState.gateway`): what it must know per request
without asking the store, and how it reaches replicas (docs/gateway.md).

- Keys and deployments' ready replicas are read from the store (`services/gateway.py`) and
  kept `key_cache_s` and `endpoint_cache_s`; past that the stale entry still answers while one
  read refreshes it in the background, so a revoked key stops within `key_cache_s` plus one
  read (at once on the server that revoked it: `forget`).
- Least outstanding requests over the ready replicas, ties taken in turn; a replica that
  refused a connection is passed over for `endpoint_cache_s`.
- One pooled async HTTP client to all replicas.
- The request log is written by group commit, one transaction per batch of whatever arrived
  meanwhile. With `durable_log` (the default) each request waits for the transaction that
  holds its row before its last bytes go out; without, the answer leaves at once and a crash
  may lose the records of the requests answered in the last moments (the batch in flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from aicc.api.buckets import TokenBuckets
from aicc.api.cache import StoreCache
from aicc.config import GatewaySettings
from aicc.services import gateway as gw
from aicc.services.autoscaling import Concurrency
from aicc.services.common import utcnow
from aicc.store.db import Database

log = logging.getLogger(__name__)

COLD_POLL_S = 0.25  # how often a held request looks for a ready replica
# Latency buckets of the Prometheus histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(eq=False)  # hashable by identity: a registry keeps its collectors in a dict
class Stats:
    """What /metrics shows of the gateway since this server started (a Prometheus collector):
    requests by deployment, route and status, tokens, and a latency histogram."""

    requests: dict[tuple[str, str, str, int], int] = field(default_factory=dict)
    tokens: dict[tuple[str, str, str], int] = field(default_factory=dict)
    latency: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # buckets, sum

    def add(self, deployment: str, record: gw.RequestRecord) -> None:
        where = (record.project_id, deployment)
        key = (*where, record.route, record.status)
        self.requests[key] = self.requests.get(key, 0) + 1
        for kind, n in (("prompt", record.prompt_tokens), ("completion", record.completion_tokens)):
            self.tokens[(*where, kind)] = self.tokens.get((*where, kind), 0) + n
        counts = self.latency.setdefault(where, [0.0] * (len(BUCKETS) + 2))
        seconds = record.latency_us / 1e6
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        counts[-2] += 1  # +Inf
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        labels = ["project", "deployment"]
        requests = CounterMetricFamily(
            "aicc_gateway_requests",
            "Requests through the gateway, by what the client got.",
            labels=[*labels, "route", "status"],
        )
        for (project, name, route, status), n in sorted(self.requests.items()):
            requests.add_metric([project, name, route, str(status)], n)
        tokens = CounterMetricFamily(
            "aicc_gateway_tokens", "Tokens of answered requests.", labels=[*labels, "kind"]
        )
        for key, n in sorted(self.tokens.items()):
            tokens.add_metric(list(key), n)
        latency = HistogramMetricFamily(
            "aicc_gateway_request_seconds",
            "From the request's arrival to its record (the answer's end).",
            labels=labels,
        )
        for where, counts in sorted(self.latency.items()):
            buckets = [(str(b), counts[i]) for i, b in enumerate(BUCKETS)]
            latency.add_metric(list(where), [*buckets, ("+Inf", counts[-2])], counts[-1])
        yield from (requests, tokens, latency)


class LogWriter:
    """Group commit of request records: a request awaits the transaction holding its row."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: list[tuple[gw.RequestRecord, asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    def submit(self, record: gw.RequestRecord) -> asyncio.Future[None]:
        """Queue the record; the future is done once its transaction committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((record, future))
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self._commit, [record for record, _ in batch])
            except Exception as err:
                log.exception("gateway: writing %d request records failed", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
                        future.exception()
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _commit(self, records: list[gw.RequestRecord]) -> None:
        gw.record(self.db, records)


class Gateway:
    """Keys, targets, routing counters, rate buckets, the HTTP client and the log writer."""

    def __init__(
        self,
        db: Database,
        settings: GatewaySettings,
        *,
        zone: str,
        concurrency: Concurrency | None = None,
        wake: Callable[[], None] = lambda: None,
        cold_start_s: float = 300.0,
    ) -> None:
        self.db, self.settings, self.zone = db, settings, zone
        # requests in flight per deployment, for the autoscaler; `wake` runs the controller now
        self.concurrency = concurrency or Concurrency()
        self.wake, self.cold_start_s = wake, cold_start_s
        self.keys: StoreCache[gw.Grant | None] = StoreCache(settings.key_cache_s, self._load_key)
        self.targets: StoreCache[gw.Target | None] = StoreCache(
            settings.endpoint_cache_s, self._load_target
        )
        self.outstanding: dict[str, int] = {}
        self.turn = itertools.count()
        self.refused: dict[str, float] = {}  # url -> until when it is passed over
        self.spent: dict[str, int] = {}  # key id -> tokens since its grant was read
        self.buckets: dict[int, TokenBuckets] = {}  # rpm -> buckets by key id
        self.writer = LogWriter(db)
        self.stats = Stats()
        self._client: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = None

    # --- what the store says, cached

    def _load_key(self, digest: str) -> gw.Grant | None:
        with self.db.reader() as session:
            grant = gw.grant(session, digest, now=utcnow(), zone=self.zone)
        if grant is not None:
            self.spent[grant.key_id] = 0  # the store's sum now holds what was counted here
        return grant

    def _load_target(self, key: tuple[str, str]) -> gw.Target | None:
        with self.db.reader() as session:
            return gw.target(session, *key)

    async def grant(self, secret: str) -> gw.Grant | None:
        return await self.keys.get(hashlib.sha256(secret.encode()).hexdigest())

    async def target(self, project_id: str, name: str) -> gw.Target | None:
        return await self.targets.get((project_id, name))

    async def ready(
        self, project_id: str, target: gw.Target, tried: frozenset[str] = frozenset()
    ) -> gw.Target:
        """Hold a request until the deployment has a ready replica it has not tried: one
        scaled to zero starts one (the request counts as in flight, so the autoscaler wants
        one: a cold start), a dead one is replaced. The controller is woken and the store read
        (not the cache) until then, or until `cold_start_s` passed."""
        deadline = time.monotonic() + self.cold_start_s
        key = (project_id, target.name)
        while target.waits and time.monotonic() < deadline:
            found = await asyncio.to_thread(self._load_target, key)
            if found is None:
                break
            target = found
            self.targets.put(key, target)  # the others see what is ready at once
            if any(url not in tried for _, url in target.urls):
                break
            self.wake()
            await asyncio.sleep(COLD_POLL_S)
        return target

    def forget(self, key_id: str) -> None:
        """A key revoked on this server stops at once."""
        self.keys.drop(lambda g: g is not None and g.key_id == key_id)

    # --- limits

    def throttle(self, grant: gw.Grant) -> float:
        """Seconds until the key may send another request (0: now)."""
        if grant.rpm is None:
            return 0.0
        buckets = self.buckets.get(grant.rpm)
        if buckets is None:
            buckets = self.buckets[grant.rpm] = TokenBuckets(grant.rpm / 60, grant.rpm)
        return buckets.take(grant.key_id)

    def quota_spent(self, grant: gw.Grant) -> bool:
        if grant.tokens_per_month is None:
            return False
        used = grant.tokens_used + self.spent.get(grant.key_id, 0)
        return used >= grant.tokens_per_month

    # --- routing

    def pick(self, target: gw.Target, tried: set[str]) -> tuple[str, str] | None:
        """The ready replica with the fewest requests in flight (ties in turn), not yet tried;
        one that refused a connection lately only when no other is left."""
        now = time.monotonic()
        left = [u for u in target.urls if u[1] not in tried]
        healthy = [u for u in left if self.refused.get(u[1], 0.0) <= now] or left
        if not healthy:
            return None
        least = min(self.outstanding.get(url, 0) for _, url in healthy)
        ties = [u for u in healthy if self.outstanding.get(u[1], 0) == least]
        return ties[next(self.turn) % len(ties)]

    def refuse(self, url: str) -> None:
        self.refused[url] = time.monotonic() + max(self.settings.endpoint_cache_s, 1.0)

    def client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (a server has one)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            s = self.settings
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(s.read_timeout_s, connect=s.connect_timeout_s),
                limits=httpx.Limits(
                    max_connections=s.max_connections,
                    max_keepalive_connections=s.max_connections,
                ),
                trust_env=False,
            )
            self._client = (loop, client)
        return self._client[1]

    async def close(self) -> None:
        if self._client is not None:
            loop, client = self._client
            self._client = None
            if loop is asyncio.get_running_loop():
                await client.aclose()

    # --- the books

    async def finish(self, deployment: str, record: gw.RequestRecord) -> None:
        """Count the request and write its record; returns once the record is committed."""
        self.stats.add(deployment, record)
        if record.billable:
            tokens = record.prompt_tokens + record.completion_tokens
            self.spent[record.key_id] = self.spent.get(record.key_id, 0) + tokens
        written = self.writer.submit(record)
        if self.settings.durable_log:
            await written
