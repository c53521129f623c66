"""What the running server holds: settings, database, blob store, executors and control loops."""

from __future__ import annotations

from dataclasses import dataclass

from aicc.config import Settings
from aicc.executors.base import Executor
from aicc.loops.controller import Controller
from aicc.store.blobs import BlobStore
from aicc.store.db import Database
from aicc.store.sealing import Sealer


@dataclass
class AppState:
    settings: Settings
    db: Database
    blobs: BlobStore
    executors: dict[str, Executor]
    controller: Controller
    sealer: Sealer
