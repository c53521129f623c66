"""After each pass: the audit entries committed since are sealed into the log's hash chain
(services/tenancy/audit.py). Only the leader seals, fenced, so two servers never give out one
`seq`."""

from __future__ import annotations

from aicc.loops.lease import Lease
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.common import utcnow
from aicc.services.tenancy import audit
from aicc.store.db import Database
from aicc.store.sealing import Sealer


def seal(db: Database, lease: Lease, sealer: Sealer) -> None:
    with db.reader() as session:  # most passes have nothing to seal: no write transaction
        if not audit.unsealed(session):
            return
    with db.session() as session:
        lease.fence(session, utcnow())
        audit.seal(session, sealer)


class Seal(EveryPass):
    """The audit log's step: `seal` at every pass."""

    name = "audit"

    def run(self, pass_: Pass) -> None:
        seal(pass_.db, pass_.lease, pass_.sealer)


STEP = Declared(order=90, build=lambda context: Seal())
