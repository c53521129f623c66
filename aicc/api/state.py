"""What the running server holds: settings, database, blob store, engines and its control loops,
the latter two as services name them (the API never imports loops or executors)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aicc.api.gateway import Gateway
from aicc.api.http_metrics import HttpStats
from aicc.config import Settings
from aicc.services.autoscaling import Concurrency
from aicc.services.control import Control, Engines
from aicc.store.blobs import BlobStore
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
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
    gateway: Gateway = field(init=False)  # the `/v1` gateway's memory (api/gateway.py)
    http: HttpStats = field(default_factory=HttpStats)  # requests by route (api/http_metrics.py)

    def __post_init__(self) -> None:
        self.gateway = Gateway(
            self.db,
            self.settings.gateway,
            zone=self.settings.site.timezone,
            concurrency=self.concurrency,
            wake=self.controller.wake,
            cold_start_s=self.settings.deployments.cold_start_timeout_s,
        )
