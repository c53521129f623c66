"""After each reconcile pass: what jobs that just ended leave behind becomes what they promised
(services/models/outputs.py: a data set version, a model version, a challenge's score), and the
MLflow runs a job logged to its `mlruns` become runs of its project (services/models/tracking.py).
Only the leader runs it, fenced."""

from __future__ import annotations

import logging

from aicc.executors.base import Executor
from aicc.loops.lease import Lease
from aicc.loops.registry import Context, Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.common import utcnow
from aicc.services.jobs import logs
from aicc.services.models import outputs, tracking
from aicc.services.needs import scoring
from aicc.store.chunkstore import ChunkStore
from aicc.store.db import Database

# A challenge's scoring jobs deliver scores: the kind registers itself with outputs on import.
assert scoring.KIND in outputs.KINDS

log = logging.getLogger(__name__)


def deliver(db: Database, lease: Lease, executors: dict[str, Executor], chunks: ChunkStore) -> None:
    with db.session() as session:
        lease.fence(session, utcnow())
        for line in outputs.deliver(
            session, chunks, lambda job: logs.outputs_dir(session, job, executors)
        ):
            log.info("job outputs: %s", line)
        for line in tracking.import_ended(
            session, lambda job: logs.outputs_dir(session, job, executors)
        ):
            log.info("job MLflow runs: %s", line)


class Outputs(EveryPass):
    """The models' step, after reconcile: `deliver` at every pass, into `chunks`."""

    name = "outputs"

    def __init__(self, chunks: ChunkStore) -> None:
        self.chunks = chunks

    def run(self, pass_: Pass) -> None:
        deliver(pass_.db, pass_.lease, pass_.executors, self.chunks)


def _outputs(context: Context) -> Outputs | None:
    """Only with a chunk store: what ended jobs promised is kept in it."""
    chunks = context.chunks
    return Outputs(chunks) if chunks is not None else None


STEP = Declared(order=40, build=_outputs)
