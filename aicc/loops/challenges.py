"""The needs' `challenges` step: when a challenge's deadline passes, its private board opens
and it takes no more submissions (both by the time itself, services/needs/challenges.py); this
step tells the poster and every team (`challenge.closed`, services/needs/notices.py), once: the
poster's event's key, `challenge.closed:<id>`, marks the challenge told, across passes,
restarts and a change of leader."""

from __future__ import annotations

from datetime import datetime

from aicc.loops.lease import Lease
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.needs import notices
from aicc.store.db import Database


def step(db: Database, lease: Lease, now: datetime) -> int:
    """Tell of the challenges that closed and were not told yet; how many."""
    with db.reader() as session:  # most passes find none: no write transaction
        due = notices.due(session, now)
    if not due:
        return 0
    with db.session() as session:
        lease.fence(session, now)
        for challenge_id in notices.due(session, now):
            notices.closed(session, challenge_id)
        return len(due)


class Deadlines(EveryPass):
    """The step: `step` at every pass (one read that finds nothing, most of the time)."""

    name = "challenges"

    def run(self, pass_: Pass) -> None:
        step(pass_.db, pass_.lease, pass_.now())


STEP = Declared(order=50, build=lambda context: Deadlines())
