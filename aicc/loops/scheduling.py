"""The scheduling loop: admit waiting jobs, ask the scheduler where they go, record the binds.

Level-triggered: each cycle reads the whole desired state from the store, so a missed wake-up or
a restart costs at most one cycle. Binds happen only under the fenced lease (one scheduler per
database). What a cycle writes is the jobs' context's (services/jobs/binding.py); the loop keeps
the order: read without a write lock, decide, fence, record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.loops.lease import Lease
from aicc.loops.steps import EveryPass, Pass
from aicc.scheduler.framework import Profile, isolate, schedule
from aicc.scheduler.snapshot import Snapshot
from aicc.services.billing import budgets
from aicc.services.jobs import binding, snapshots

# the executors' tests build a gang's rendezvous as a pass would
from aicc.services.jobs.binding import rendezvous as rendezvous
from aicc.store.db import Database

log = logging.getLogger(__name__)


def cycle(
    db: Database,
    lease: Lease,
    now: datetime,
    profile: Profile,
    billing: budgets.Context | None = None,
    same_host: frozenset[str] = frozenset(),
    parsed: snapshots.Parsed | None = None,
    site: Callable[[Session, Snapshot], Snapshot] | None = None,
) -> int:
    """One scheduling pass in one fenced transaction: binds, preemptions and waiting reasons.
    With `billing`, budgets are checked at admission. `same_host`: the executors whose nodes are
    all this machine (`Capabilities.same_host`). `parsed`: the waiting jobs' views from earlier
    passes (`snapshots.Parsed`). `site(session, snapshot)`: the snapshot with what the site adds
    (services.power.Site.decorate): its hourly carbon forecast, with which the scheduler holds
    deferrable jobs for greener hours (`green`), and the power cap in force (`power`).
    Returns the number of jobs bound.

    No job can stop the pass: a waiting job whose stored spec is not valid, or whose presence
    makes the scheduler raise (found by `isolate`), fails as `invalid_spec` or `quarantined`,
    and the others are scheduled in the same pass."""
    with db.reader() as session:
        if not binding.anyone_waiting(session):
            return 0  # nothing to do: take no write lock
    with db.reader() as session:  # decide without SQLite's write lock: submits go on meanwhile
        read = snapshots.read(session, now, billing=billing, parsed=parsed)
        snapshot = read.snapshot
        if site is not None:
            snapshot = site(session, snapshot)
    poisoned: dict[str, str] = {}
    try:
        decisions = schedule(snapshot, profile)
    except Exception:
        log.exception("scheduling pass failed; looking for the jobs that make it fail")
        snapshot, poisoned = isolate(snapshot, profile)
        decisions = schedule(snapshot, profile)
    with db.session() as session:
        # Only the fenced leader binds, and each record re-checks its job's state, so a snapshot
        # read a moment ago is safe: capacity can only have grown (replicas ended) meanwhile.
        lease.fence(session, now)
        return binding.record(
            session,
            decisions,
            now=now,
            shown=read.shown,
            invalid=read.invalid,
            poisoned=poisoned,
            same_host=same_host,
        )


class Schedule(EveryPass):
    """The jobs' first step: one `cycle` at every pass, with what the server was built with."""

    name = "schedule"

    def __init__(
        self,
        profile: Profile,
        *,
        billing: budgets.Context | None,
        same_host: frozenset[str],
        parsed: snapshots.Parsed,
        site: Callable[[Session, Snapshot], Snapshot] | None,
    ) -> None:
        self.profile = profile
        self.billing = billing
        self.same_host = same_host
        self.parsed = parsed
        self.site = site

    def run(self, pass_: Pass) -> None:
        cycle(
            pass_.db,
            pass_.lease,
            pass_.now(),
            self.profile,
            self.billing,
            same_host=self.same_host,
            parsed=self.parsed,
            site=self.site,
        )
