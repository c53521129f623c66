"""What the running server holds: settings, database, blob store, engines and its control loops,
the latter two as services name them (the API never imports loops or executors). Here the loops
are wired to the API: a commit that a service marked `changes.changed` wakes them; no route does."""

from __future__ import annotations

from dataclasses import dataclass, field

from aicc.api.gates import OrgGates
from aicc.api.http_metrics import HttpStats
from aicc.config import Settings
from aicc.gateway.cache import StoreCache
from aicc.gateway.state import Gateway
from aicc.s3.stats import S3Stats
from aicc.services import changes
from aicc.services.center.control import Control, Engines
from aicc.services.notify import events
from aicc.services.serving.autoscaling import Concurrency
from aicc.services.tenancy import tokens
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
from aicc.store.group_commit import Transactions
from aicc.store.sealing import Sealer


@dataclass
class AppState:
    settings: Settings
    db: Database
    blobs: BlobStore
    executors: Engines
    controller: Control
    sealer: Sealer
    chunks: ChunkStore  # data sets' chunks (aicc/store/chunkstore.py)
    # requests in flight per deployment: the gateway counts, the controller's autoscaler reads
    concurrency: Concurrency = field(default_factory=Concurrency)
    gateway: Gateway = field(init=False)  # the `/v1` gateway's memory (gateway/state.py)
    http: HttpStats = field(default_factory=HttpStats)  # requests by route (api/http_metrics.py)
    gates: OrgGates = field(default_factory=OrgGates)  # one at a time per org (api/gates.py)
    s3: S3Stats = field(default_factory=S3Stats)  # the S3 endpoint's counts (s3/stats.py)
    callers: StoreCache[tokens.Caller | None] = field(init=False)  # by token digest (api/deps.py)
    # the hottest writes (a job's submit), one transaction per batch (store/group_commit.py)
    transactions: Transactions = field(init=False)

    def __post_init__(self) -> None:
        self.transactions = Transactions(self.db)
        self.callers = StoreCache(self.settings.token_cache_s, self._load_caller, serve_stale=False)
        self.db.on_commit(tokens.SHAPES_A_CALLER, self.callers.clear)
        # the loops run once a transaction that changed what they act on commits (changes.changed)
        self.db.on_marked_commit(changes.CHANGED, self.controller.wake)
        # notifications' deliveries go out once the transaction that emitted them commits
        self.db.on_marked_commit(events.EMITTED, self.controller.deliver)
        self.gateway = Gateway(
            self.db,
            self.settings.gateway,
            zone=self.settings.site.timezone,
            concurrency=self.concurrency,
            wake=self.controller.wake,
            cold_start_s=self.settings.deployments.cold_start_timeout_s,
            chunks=self.chunks,
        )
        # an adapter attached or detached here: the gateway reads deployments again at once
        # (other servers within `gateway.endpoint_cache_s`)
        self.db.on_commit({"deployment_adapters"}, self.gateway.targets.clear)

    def _load_caller(self, secret_hash: str) -> tokens.Caller | None:
        with self.db.reader() as session:
            caller, stale = tokens.authenticate(session, secret_hash)
        if stale is not None:
            with self.db.session() as session:
                tokens.touch(session, stale)
        return caller
