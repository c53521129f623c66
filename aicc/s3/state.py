"""What the S3 endpoint's routes answer from: the app sets one `Endpoint` as `app.state.s3`
(`api/app.py`), as it sets the gateway's, since this floor does not import the API's state."""

from __future__ import annotations

from dataclasses import dataclass

from aicc.s3.stats import S3Stats
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database
from aicc.store.sealing import Sealer


@dataclass(frozen=True)
class Endpoint:
    db: Database
    sealer: Sealer  # opens the access keys' secrets
    chunks: ChunkStore
    stats: S3Stats
