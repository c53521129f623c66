"""The gateway the server holds in memory (`AppState.gateway`): what it must know per request
without asking the store, and how it reaches replicas (docs/gateway.md).

- Keys and deployments' ready replicas are read from the store (`services/gateway.py`) and
  kept `key_cache_s` and `endpoint_cache_s`; past that the stale entry still answers while one
  read refreshes it in the background, so a revoked key stops within `key_cache_s` plus one
  read (at once on the server that revoked it: `forget`).
- Least outstanding requests over the ready replicas, ties taken in turn; a replica that
  refused a connection is passed over for `endpoint_cache_s`.
- One pooled async HTTP client to all replicas reached on TCP (aiohttp: it forwards a request
  in less than half of httpx's time, BENCHMARKS.md), and one per replica reached through its
  Unix socket (a sandboxed replica of this machine: services/endpoints.py), the last
  `MAX_SOCKET_CLIENTS` kept. A sandboxed replica on another machine answers on TCP only a
  request that carries its token (`Target.tokens`, sent by the route with every request; never
  logged): the client's own headers never reach a replica, so no caller can send one.
- The request log is written by group commit, one transaction per batch of whatever arrived
  meanwhile, on a thread of its own. With `durable_log` (the default) each request waits for
  the transaction that holds its row before its last bytes go out; without, the answer leaves
  at once and a crash may lose the records of the requests answered in the last moments (the
  batch in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from sqlalchemy import Connection

from aicc.api import counted
from aicc.api.buckets import TokenBuckets
from aicc.api.cache import StoreCache
from aicc.config import GatewaySettings
from aicc.services import endpoints
from aicc.services import gateway as gw
from aicc.services.autoscaling import Concurrency
from aicc.services.common import utcnow
from aicc.store.db import Database
from aicc.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

COLD_POLL_S = 0.25  # how often a held request looks for a ready replica
MAX_SOCKET_CLIENTS = 256  # pooled clients kept for replicas reached through Unix sockets
# Latency buckets of the Prometheus histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Stats:
    """What /metrics shows of the gateway since this server started (a Prometheus collector):
    requests by deployment, route and status, tokens, and a latency histogram."""

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

    def add(self, deployment: str, record: gw.RequestRecord) -> None:
        where = (record.project_id, deployment)
        self.requests.labels(*where, record.route, str(record.status)).inc()
        for kind, n in (("prompt", record.prompt_tokens), ("completion", record.completion_tokens)):
            self.tokens.labels(*where, kind).inc(n)
        self.latency.labels(*where).observe(record.latency_us / 1e6)

    def collect(self) -> Iterator[Metric]:
        yield from counted.collect(self.registry, "aicc_gateway_")


class LogWriter(GroupCommit[gw.RequestRecord, None]):
    """Group commit of request records (`store/group_commit.py`), on a connection the writer's
    thread keeps: a request awaits the transaction holding its row. A batch that fails fails
    its requests' futures (logged) and is not tried again."""

    name = "aicc-gateway-log"

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._connection: Connection | None = None  # the thread's own

    def commit(self, items: Sequence[gw.RequestRecord]) -> list[None]:
        if self._connection is None:
            self._connection = self.db.engine.connect()
        try:
            gw.append(self._connection, list(items))
        except Exception:
            self.stopped()  # the next batch starts on a fresh connection
            raise
        return [None] * len(items)

    def stopped(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                connection.close()


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
        self._client: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None
        # per Unix socket path, on `_client`'s loop: the client and its socket's directory
        self._sockets: dict[str, tuple[aiohttp.ClientSession, contextlib.ExitStack]] = {}
        self._closing: set[asyncio.Task[None]] = set()

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

    def client(self, address: str = "") -> aiohttp.ClientSession:
        """The pooled client to reach `address` (`Target.urls`), one per event loop (a server
        has one): the one for every TCP replica, or the one of a replica's Unix socket (an
        absolute path). It follows no redirects (`_send` asks it not to) and keeps no
        cookies: a replica's cookie is not for the next caller."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            if self._client is not None:
                _abandon(*self._client)
                for session, directory in self._sockets.values():
                    _abandon(self._client[0], session)
                    directory.close()
                self._sockets.clear()
            limit = self.settings.max_connections
            tcp = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
            self._client = (loop, self._session(tcp))
        if not address.startswith("/"):
            return self._client[1]
        found = self._sockets.get(address)
        if found is None or found[0].closed:
            if found is not None:
                found[1].close()
            self._prune()
            directory = contextlib.ExitStack()
            try:  # a path of any length: through a descriptor of its directory
                path = directory.enter_context(endpoints.reachable(address))
            except OSError:
                path = address  # gone: connecting fails as a refused connection does
            unix = aiohttp.UnixConnector(path=path, limit=self.settings.max_connections)
            found = self._sockets[address] = (self._session(unix), directory)
        return found[0]

    def _session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        s = self.settings
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout_s, sock_read=s.read_timeout_s
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    def _prune(self) -> None:
        """Close the clients of sockets gone (their replicas' run directories purged), and the
        oldest idle ones past MAX_SOCKET_CLIENTS."""
        over = len(self._sockets) - MAX_SOCKET_CLIENTS + 1
        for address in list(self._sockets):
            gone = not os.path.exists(address)
            if (gone or over > 0) and not self.outstanding.get(address):
                over -= 1
                session, directory = self._sockets.pop(address)
                task = asyncio.get_running_loop().create_task(_close(session, directory))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """At shutdown: the client closed, the request log committed."""
        if self._client is not None:
            loop, client = self._client
            self._client = None
            sockets = [session for session, _ in self._sockets.values()]
            if loop is asyncio.get_running_loop():
                for session in [client, *sockets]:
                    await session.close()
            else:
                for session in [client, *sockets]:
                    _abandon(loop, session)
            for _, directory in self._sockets.values():
                directory.close()
            self._sockets.clear()
        await asyncio.to_thread(self.writer.close)

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


async def _close(session: aiohttp.ClientSession, directory: contextlib.ExitStack) -> None:
    try:
        await session.close()
    finally:
        directory.close()


def _abandon(loop: asyncio.AbstractEventLoop, client: aiohttp.ClientSession) -> None:
    """A client of another loop: closed on it while it runs, else its connections dropped."""
    if client.closed:
        return
    if loop.is_closed():  # nothing can run on it: its connections are dropped as they are
        connector = client.connector
        client.detach()
        if connector is not None:
            connector._close()  # the synchronous part of `close`, all a closed loop allows
        return
    with contextlib.suppress(RuntimeError):
        asyncio.run_coroutine_threadsafe(client.close(), loop)
