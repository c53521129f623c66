"""The gateway the server holds in memory (`AppState.gateway`): what it must know per request
without asking the store, and the books of what went through (docs/gateway.md).

- Keys and deployments' ready replicas are read from the store (`services/serving/gateway.py`) and
  kept `key_cache_s` and `endpoint_cache_s` (`cache.py`); past that the stale entry still
  answers while one read refreshes it in the background, so a revoked key stops within
  `key_cache_s` plus one read (at once on the server that revoked it: `forget`).
- A request for a deployment with no ready replica is held (`ready`) while the controller
  starts one: a cold start from zero, or a dead replica replaced.
- Per-key limits: requests a minute (`buckets.py`) and tokens a month (the store's sum when the
  key was read, plus what this server counted since).
- Least outstanding requests over the ready replicas, ties taken in turn, preferring for an
  adapter's request (`BASE:NAME`) a replica that holds it (`affinity.py`); a replica that
  refused a connection is passed over for `endpoint_cache_s`. The clients that reach them are
  `pool.py`'s. A sandboxed replica on another machine answers on TCP only a request that
  carries its token (`Target.tokens`, sent by the relay with every request; never logged): the
  client's own headers never reach a replica, so no caller can send one.
- A deployment's attached adapters (`services/serving/adapters.py`) are handed to a replica
  the first time a request for one is routed there (`hand`): its files, as a tar, to the
  replica's `PUT /aicc/adapters/OWNER/NAME`; remembered per replica until it refuses a
  connection or says it has no such adapter.
- Each finished request is counted for `/metrics` (`metrics.py`) and its record written by the
  request log's group commit (`request_log.py`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import tarfile
import time
from collections.abc import Callable

from aicc.config import GatewaySettings
from aicc.gateway import affinity
from aicc.gateway.buckets import TokenBuckets
from aicc.gateway.cache import StoreCache
from aicc.gateway.metrics import Stats
from aicc.gateway.pool import Pool
from aicc.gateway.request_log import LogWriter
from aicc.gateway.safety import Safety
from aicc.gateway.tiers import Admission
from aicc.services.common import utcnow
from aicc.services.jobs import endpoints
from aicc.services.serving import adapters
from aicc.services.serving import gateway as gw
from aicc.services.serving.autoscaling import Concurrency
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database

COLD_POLL_S = 0.25  # how often a held request looks for a ready replica
REFUSED = "!"  # before a version in `Gateway.handed`: the replica would not take it


class Gateway:
    """Keys, targets, routing counters, rate buckets, the HTTP clients and the log writer."""

    def __init__(
        self,
        db: Database,
        settings: GatewaySettings,
        *,
        zone: str,
        concurrency: Concurrency | None = None,
        wake: Callable[[], None] = lambda: None,
        cold_start_s: float = 300.0,
        chunks: ChunkStore | None = None,
    ) -> None:
        self.db, self.settings, self.zone = db, settings, zone
        self.chunks = chunks  # where attached adapters' files are read (None: not handed)
        self.handed: dict[str, dict[str, str]] = {}  # address -> adapter key -> version
        self._handing: dict[tuple[str, str], asyncio.Lock] = {}
        # requests in flight per deployment, for the autoscaler; `wake` runs the controller now
        self.concurrency = concurrency or Concurrency()
        self.wake, self.cold_start_s = wake, cold_start_s
        self.keys: StoreCache[gw.Grant | None] = StoreCache(settings.key_cache_s, self._load_key)
        self.targets: StoreCache[gw.Target | None] = StoreCache(
            settings.endpoint_cache_s, self._load_target
        )
        self.classifiers: StoreCache[gw.Target | None] = StoreCache(
            settings.endpoint_cache_s, self._load_classifier
        )  # content safety's classifier deployments, by id (`classify.py`)
        self.outstanding: dict[str, int] = {}  # address -> requests in flight there
        self.turn = itertools.count()
        self.refused: dict[str, float] = {}  # url -> until when it is passed over
        self.spent: dict[str, int] = {}  # key id -> tokens since its grant was read
        self.buckets: dict[int, TokenBuckets] = {}  # rpm -> buckets by key id
        self.holdings = affinity.Holdings()  # which replicas hold which adapters
        self.pool = Pool(settings, self.outstanding)
        self.writer = LogWriter(db)
        self.stats = Stats()
        self.admission = Admission(settings.tiers)  # service tiers: who waits when saturated
        for tier, ms in settings.tiers.objectives_ms.items():
            self.stats.objective.labels(str(tier)).set(ms / 1000)
        self.safety = Safety(settings.safety, db, self.stats.registry)

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

    def _load_classifier(self, deployment_id: str) -> gw.Target | None:
        with self.db.reader() as session:
            return gw.target_of(session, deployment_id)

    def _alias(self, key: tuple[str, str]) -> tuple[str, str] | None:
        with self.db.reader() as session:
            return gw.aliased(session, *key)

    async def alias(self, project_id: str, name: str) -> tuple[str, str] | None:
        """The (deployment, adapter) an adapter's alias of the project calls, or None."""
        return await asyncio.to_thread(self._alias, (project_id, name))

    def _tar(self, source: adapters.Source) -> bytes:
        assert self.chunks is not None
        with self.db.reader() as session:
            found = adapters.files(session, self.chunks, source)
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:") as tar:
            for name, data in found:
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o444
                tar.addfile(info, io.BytesIO(data))
        return out.getvalue()

    async def hand(self, url: str, token: str | None, source: adapters.Source) -> None:
        """Make sure the replica at `url` has the attached adapter `source` at its version:
        handed in once per replica (concurrent requests for it wait for the one hand-in).
        A replica that does not take it (a 4xx: an engine without adapters) is not asked
        again; it answers the requests itself (a 404)."""
        done = (source.version_id, REFUSED + source.version_id)
        if self.chunks is None or self.handed.get(url, {}).get(source.key) in done:
            return
        lock = self._handing.setdefault((url, source.key), asyncio.Lock())
        async with lock:
            if self.handed.get(url, {}).get(source.key) in done:
                return
            body = await asyncio.to_thread(self._tar, source)
            base = "http://localhost" if url.startswith("/") else url
            headers = {
                "content-type": "application/x-tar",
                adapters.VERSION_HEADER: source.version_id,
                **endpoints.headers(token),
            }
            answer = await self.pool.client(url).put(
                f"{base}/aicc/adapters/{source.key}", data=body, headers=headers
            )
            async with answer:
                if answer.status < 300:
                    self.handed.setdefault(url, {})[source.key] = source.version_id
                elif answer.status < 500:
                    self.handed.setdefault(url, {})[source.key] = REFUSED + source.version_id

    def unhand(self, url: str, key: str) -> None:
        """The replica at `url`, which took adapter `key`, says it has none (a new replica at
        its address): the next request for it hands it in again."""
        held = self.handed.get(url, {})
        if not held.get(key, REFUSED).startswith(REFUSED):
            held.pop(key, None)

    async def grant(self, secret: str) -> gw.Grant | None:
        return await self.keys.get(hashlib.sha256(secret.encode()).hexdigest())

    async def target(self, project_id: str, name: str) -> gw.Target | None:
        return await self.targets.get((project_id, name))

    async def fresh(self, project_id: str, name: str) -> gw.Target | None:
        """The deployment as the store says now (not the cache), which then keeps it."""
        key = (project_id, name)
        found = await asyncio.to_thread(self._load_target, key)
        if found is not None:
            self.targets.put(key, found)
        return found

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

    def pick(
        self, target: gw.Target, tried: set[str], holders: frozenset[str] = frozenset()
    ) -> tuple[str, str] | None:
        """The ready replica with the fewest requests in flight (ties in turn), not yet tried,
        or one of `holders` (they hold the request's adapter) within `adapter_slack` of it;
        one that refused a connection lately only when no other is left. The caller counts it
        in flight (`outstanding`) until `release`."""
        now = time.monotonic()
        left = [u for u in target.urls if u[1] not in tried]
        healthy = [u for u in left if self.refused.get(u[1], 0.0) <= now] or left
        if not healthy:
            return None
        slack = self.settings.adapter_slack
        load = self.outstanding.get
        return affinity.choose(healthy, lambda u: load(u, 0), holders, slack, next(self.turn))

    def release(self, url: str) -> None:
        """A request sent to `url` is over there (answered, failed or abandoned)."""
        self.outstanding[url] = self.outstanding.get(url, 1) - 1

    def refuse(self, url: str) -> None:
        self.refused[url] = time.monotonic() + max(self.settings.endpoint_cache_s, 1.0)
        self.holdings.forget(url)
        self.handed.pop(url, None)
        for key in [k for k in self._handing if k[0] == url]:
            self._handing.pop(key)

    async def close(self) -> None:
        """At shutdown: the clients closed, the request log committed."""
        await self.pool.close()
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
