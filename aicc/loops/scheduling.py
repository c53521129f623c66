"""The scheduling loop: admit waiting jobs, ask the scheduler where they go, record the binds.

Level-triggered: each cycle reads the whole desired state from the store, so a missed wake-up or
a restart costs at most one cycle; a pass that would only make the last pass's waits again, with
no job written since, is skipped, and one after which only new jobs wait behind the same full
lanes writes their waits alone (loops/quiet.py: exact, never on stale state). Binds happen
only under the fenced lease (one scheduler per database). What a cycle writes is the jobs'
context's (services/jobs/binding.py); the loop keeps the order: read without a write lock,
decide, fence, record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.loops.lease import Lease
from aicc.loops.quiet import News, Quiet
from aicc.loops.registry import Context, Declared
from aicc.loops.steps import EveryPass, Pass
from aicc.scheduler.framework import Cycle, Profile, isolate
from aicc.scheduler.snapshot import Snapshot
from aicc.services.billing import budgets
from aicc.services.jobs import binding, elastic, snapshots

# the executors' tests build a gang's rendezvous as a pass would
from aicc.services.jobs.binding import rendezvous as rendezvous
from aicc.services.jobs.runtimes import Runtimes, wanted
from aicc.services.serving import lifecycle
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
    quiet: Quiet | None = None,
    runtimes: Runtimes | None = None,
    notice_s: float = snapshots.NOTICE_S,
) -> int:
    """One scheduling pass in one fenced transaction: binds, preemptions and waiting reasons.
    With `billing`, budgets are checked at admission. `same_host`: the executors whose nodes are
    all this machine (`Capabilities.same_host`). `parsed`: the waiting jobs' views from earlier
    passes (`snapshots.Parsed`). `site(session, snapshot)`: the snapshot with what the site adds
    (services.power.Site.decorate): its hourly carbon forecast, with which the scheduler holds
    deferrable jobs for greener hours (`green`), and the power cap in force (`power`).
    `quiet`: the loop's memory of its last pass, with which a pass that would only make the
    same waits again is skipped (loops/quiet.py). `runtimes`: the loop's runtime predictor, fed
    the jobs that succeeded since the last pass, which gives each waiting job its predicted
    runtime (services/jobs/runtimes.py). Returns the number of jobs bound.

    No job can stop the pass: a waiting job whose stored spec is not valid, or whose presence
    makes the scheduler raise (found by `isolate`), fails as `invalid_spec` or `quarantined`,
    and the others are scheduled in the same pass."""
    epoch = lease.epoch
    if quiet is not None:
        with db.reader() as session:
            news = quiet.news(session, epoch)
        quiet.forget()  # until this pass commits
        if news is not None:
            _tell(db, lease, now, quiet, news)
            return 0  # the last pass's waits again, and the new jobs' (loops/quiet.py)
    with db.reader() as session:
        if not (binding.anyone_waiting(session) or elastic.could_grow(session, same_host)):
            return 0  # nothing to do: take no write lock
    with db.reader() as session:  # decide without SQLite's write lock: submits go on meanwhile
        counted = snapshots.mark(session) if quiet is not None else None  # before the read
        read = snapshots.read(
            session,
            now,
            protect=lifecycle.protected,
            billing=billing,
            parsed=parsed,
            notice_s=notice_s,
        )
        snapshot = read.snapshot
        if runtimes is not None:
            snapshot = runtimes.apply(session, snapshot)
        if site is not None:
            snapshot = site(session, snapshot)
    run, snapshot, poisoned = _decide(snapshot, profile)
    decisions = run.decisions
    with db.session() as session:
        # Only the fenced leader binds, and each record re-checks its job's state, so a snapshot
        # read a moment ago is safe: capacity can only have grown (replicas ended) meanwhile.
        lease.fence(session, now)
        # SQLite's write lock, taken at BEGIN, keeps other writers out from here to the commit:
        # if no job was written since the read, the count after the writes is this pass's own
        counted = _unmoved(session, counted)
        bound = binding.record(
            session,
            decisions,
            now=now,
            shown=read.shown,
            invalid=read.invalid,
            poisoned=poisoned,
            same_host=same_host,
        )
        counted = _after(session, counted)
    if quiet is not None:
        troubled = bool(poisoned or read.invalid)
        quiet.ran(
            epoch=epoch,
            changes=counted,
            snapshot=snapshot,
            behind=run.behind,
            troubled=troubled,
            placed=read.snapshot.running,
            decisions=decisions,
        )
    return bound


def _tell(db: Database, lease: Lease, now: datetime, quiet: Quiet, news: News) -> None:
    """A quiet pass: nothing to write, the pass is skipped; a nearly quiet one: the waits of
    the jobs written since the last pass, behind their full lanes, written as a full pass
    would write them (loops/quiet.py)."""
    if not news.waits:
        quiet.skip(news)
        return
    if all(binding.shown_already(w, news.shown.get(w.job_id)) for w in news.waits):
        quiet.wrote(news, news.changes)  # written since, but shown already: nothing to write
        return
    with db.session() as session:
        lease.fence(session, now)
        counted = _unmoved(session, news.changes)  # under the write lock, as in `cycle`
        binding.record(session, news.waits, now=now, shown=news.shown)
        counted = _after(session, counted)
    quiet.wrote(news, counted)


def _decide(snapshot: Snapshot, profile: Profile) -> tuple[Cycle, Snapshot, dict[str, str]]:
    """The cycle run over the snapshot. If the scheduler raises, the jobs whose presence makes
    it raise are found (`isolate`), to be quarantined, and the others decided without them."""
    try:
        run = Cycle(snapshot, profile)
        run.run()  # its decisions in `run.decisions`
        return run, snapshot, {}
    except Exception:
        log.exception("scheduling pass failed; looking for the jobs that make it fail")
        snapshot, poisoned = isolate(snapshot, profile)
        run = Cycle(snapshot, profile)
        run.run()  # its decisions in `run.decisions`
        return run, snapshot, poisoned


def _unmoved(session: Session, counted: snapshots.Mark | None) -> snapshots.Mark | None:
    """SQLite: `counted` if the count of job writes is still what the pass read it as, else
    None. PostgreSQL: the snapshot as read (the next pass reads every row committed since)."""
    if isinstance(counted, str):
        return counted
    if counted is None or snapshots.changes(session) != counted:
        return None
    return counted


def _after(session: Session, counted: snapshots.Mark | None) -> snapshots.Mark | None:
    """Where the job writes stand after the pass's own (`_unmoved` said none came between)."""
    if counted is None or isinstance(counted, str):
        return counted
    return snapshots.changes(session)


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
        quiet: Quiet | None = None,
        notice_s: float = snapshots.NOTICE_S,
    ) -> None:
        self.profile = profile
        self.notice_s = notice_s  # settings.maintenance.notice_s (fit.window_allows)
        self.quiet = quiet or Quiet()  # its last pass, to skip one that would change nothing
        # a runtime predictor, where the profile's order reads predicted runtimes
        self.runtimes = Runtimes() if wanted(profile) else None
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
            quiet=self.quiet,
            runtimes=self.runtimes,
            notice_s=self.notice_s,
        )


def _schedule(context: Context) -> Schedule:
    """Scheduling with the server's profile, its budgets, its site and its maintenance notice."""
    return Schedule(
        context.profile,
        billing=context.billing,
        same_host=context.same_host,
        parsed=context.parsed,
        site=context.site.decorate,
        notice_s=context.notice_s,
    )


STEP = Declared(order=20, build=_schedule)
