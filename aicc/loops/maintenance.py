"""The nodes' `maintenance` step: maintenance windows and leases start and end on time.

At a window's start its nodes go to `maintenance` and what runs there is evicted and requeued
(as a drain with `evict` does: services/jobs/transitions.py `evict_node`); at its end they go
to `burn_in` when burn-in is on (the burn-in step then serves or quarantines them), else back
to `ready`. Leases are marked active and ended, and their holders told (`lease.started`,
`lease.ending` a day before the end, `lease.ended`); the scheduler reads windows and leases by
the time itself (services/jobs/snapshots.restrict), so nothing waits on this step to keep
capacity right."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.loops.lease import Lease
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.services.jobs import transitions, windows_told
from aicc.services.leases import leases, notices
from aicc.services.nodes import maintenance
from aicc.store.db import Database
from aicc.store.tables.leases import CapacityLeaseRow

ENDING_NOTICE = timedelta(days=1)  # `lease.ending` this long before a lease ends


def step(db: Database, lease: Lease, now: datetime, *, burn_in: bool, told: set[str]) -> int:
    """Start and end what is due; how many windows and leases changed. `told`: the leases
    whose `lease.ending` this server has sent (the event's key makes it once anyway)."""
    with db.reader() as session:  # most passes have nothing to do: no write transaction
        starting, ending = maintenance.due(session, now)
        opening, closing = leases.due(session, now)
        near = _ending_soon(session, now, told)
    if not (starting or ending or opening or closing or near):
        return 0
    with db.session() as session:
        lease.fence(session, now)
        starting, ending = maintenance.due(session, now)
        for window_id in ending:
            maintenance.end(session, window_id, now=now, burn_in=burn_in)
            windows_told.window(session, window_id, "maintenance.ended")
        for window_id in starting:
            windows_told.window(session, window_id, "maintenance.started")  # first: whose work
            reason = maintenance.get(session, window_id).reason
            for node_id, name in maintenance.start(session, window_id, now=now):
                why = f"evicted: node {name} is in maintenance ({reason})"
                transitions.evict_node(session, node_id, name, now=now, why=why[:500])
        opening, closing = leases.due(session, now)
        for lease_id in closing:
            leases.mark(session, lease_id, "ended", now=now)
            notices.lease(session, lease_id, "lease.ended")
        for lease_id in opening:
            leases.mark(session, lease_id, "active", now=now)
            notices.lease(session, lease_id, "lease.started")
        for lease_id in near:
            notices.lease(session, lease_id, "lease.ending")
            told.add(lease_id)
        return len(starting) + len(ending) + len(opening) + len(closing)


def _ending_soon(session: Session, now: datetime, told: set[str]) -> list[str]:
    """Active leases ending within `ENDING_NOTICE` whose holder was not told yet."""
    query = select(CapacityLeaseRow.id).where(
        CapacityLeaseRow.state == "active",
        CapacityLeaseRow.ends_at > now,
        CapacityLeaseRow.ends_at <= now + ENDING_NOTICE,
    )
    return [i for i in session.scalars(query) if i not in told]


class Maintenance(EveryPass):
    """The step: `step` at every pass (a read that finds nothing due, most of the time)."""

    name = "maintenance"

    def __init__(self, *, burn_in: bool = False) -> None:
        self.burn_in = burn_in  # settings.nodes.burn_in.enabled
        self.told: set[str] = set()

    def run(self, pass_: Pass) -> None:
        step(pass_.db, pass_.lease, pass_.now(), burn_in=self.burn_in, told=self.told)


STEP = Declared(order=10, build=lambda context: Maintenance(burn_in=context.joins_burning))
