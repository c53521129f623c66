"""A quiet pass: one that would decide what the last decided and write nothing is not run.

With a long queue behind full lanes the scheduling pass read, ordered and compared every waiting
job to learn, pass after pass, that each still waits for its lane (issue 38.3: 45 µs a job).
After a pass in which every waiting job waited behind a lane full from the cycle's start
(`framework.Cycle.behind`), `Quiet` remembers what those decisions rest on; while none of it
changes, a full pass would make the same waits, already shown, and write nothing, so the loop
skips the pass.

Why those waits do not depend on the time, the nodes, the quotas or the usage: a lane full at
the start stays full through a cycle (nothing in a cycle ends a running job), the scheduler then
neither orders nor looks at the jobs behind it, and its reason is the lane's own words. They rest
only on the waiting jobs (any write to a job row stamps it, whoever wrote it, and moves
`snapshots.changes` on SQLite: `snapshots.mark` and `written` read what was written since),
the jobs holding resources (their lanes' counts), and the queues' limits, which are read again
and compared. Two things can let a job behind a full lane go the usual way, and a quiet pass is
never taken while either could: a deferrable job (the green planner may hold it for a greener
hour, which depends on the time) and a preemption under way (its preemptor is nominated).

A nearly quiet pass: when the only jobs written since are waiting ones, each in a lane that made
the last pass's jobs wait (so full from the start, with the same running jobs and queues), the
pass reads those rows alone (`snapshots.written`: each row carries a stamp of its last write),
writes their waits (the lane's words, as a full pass would) and leaves the rest, already shown.
The others' waits rest on what they rested on before; the written ones', on their lane alone.
A row that is anything else (a job ended, cancelled, placed, routed elsewhere, deferrable, a
spec not valid, a lane that held no waiting job) brings a full pass. A deleted row is read by no
one: a waiting job deleted leaves the others' waits as they were, and a placed one changes the
running jobs, which are compared (on SQLite a count moved with no row to show for it brings a
full pass all the same).

On SQLite the mark is the count of job writes, and a pass that finds it, under the write lock,
where its read left it counts its own writes as seen. On PostgreSQL (no such lock, and no
counter: it would serialise job writes) the mark is the snapshot taken before the pass read
anything, so the next pass reads again every row committed since, its own writes too, and finds
those shown.

Exactness over speed: without the stamps (migration 0037's triggers missing), under another lease
epoch (a new leader, which may have missed writes), after a restart (nothing remembered), or
after a pass that did not end in its commit, the next pass is a full one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from aicc.scheduler.snapshot import CycleDecision, JobView, QueueView, Snapshot, Wait, WaitReason
from aicc.services.jobs import snapshots
from aicc.services.serving import lifecycle

WAITING = frozenset(snapshots.WAITING)


@dataclass(frozen=True)
class _Seen:
    """What the last pass's waits rest on: the lease epoch it held, where the job writes stood
    (`snapshots.mark`), the jobs holding resources and the queues."""

    epoch: int
    changes: snapshots.Mark
    running: tuple[JobView, ...]
    queues: tuple[QueueView, ...]
    lanes: dict[str, tuple[WaitReason, ...]]  # queue -> the wait of the jobs behind its lane


@dataclass(frozen=True)
class News:
    """What a nearly quiet pass writes: the waits of the jobs written since the last pass (none
    for a quiet one), each job's state and message as read (`shown`), and where the job writes
    stood before they were read (`changes`)."""

    changes: snapshots.Mark
    waits: tuple[Wait, ...]
    shown: dict[str, tuple[str, str | None]]
    seen: _Seen


class Quiet:
    """The scheduling loop's memory of its last pass, kept by the loop that owns it (one per
    controller; its passes run one at a time)."""

    def __init__(self) -> None:
        self._seen: _Seen | None = None
        self.skipped = 0  # passes not run, for tests and benchmarks
        self.nearly = 0  # passes that wrote only the new jobs' waits
        self.told: tuple[str, ...] = ()  # the jobs whose waits the last nearly quiet pass wrote

    def news(self, session: Session, epoch: int | None) -> News | None:
        """What a full pass now would write, where it would write no more than the waits of the
        jobs written since the last pass (none: a quiet pass, to skip), each behind a lane full
        and unchanged; None where a full pass is needed. Reads in `session` (a reader) where
        the job writes stand, the rows written since, the running jobs and the queues."""
        seen = self._seen
        if seen is None or epoch is None or epoch != seen.epoch:
            return None
        counted = snapshots.mark(session)  # first: what is written from now on is read next
        if counted is None:
            return None
        waits: list[Wait] = []
        shown: dict[str, tuple[str, str | None]] = {}
        if counted != seen.changes:
            rows = snapshots.written(session, seen.changes)
            if not rows and isinstance(counted, int):
                return None  # the count moved: deletes, or rows not stamped; no doubt unread
            for row in rows:
                wait = _behind(row, seen.lanes)
                if wait is None:
                    return None
                waits.append(wait)
                shown[row.id] = (row.state, row.message)
        if (
            snapshots.queue_views(session) != seen.queues
            or snapshots.placed(session, protect=lifecycle.protected) != seen.running
        ):
            return None
        return News(counted, tuple(waits), shown, seen)

    def skip(self, news: News) -> None:
        """A quiet pass (`news` with no waits) is not run; the next may be skipped too."""
        self.skipped += 1
        self._seen = replace(news.seen, changes=news.changes)

    def wrote(self, news: News, changes: snapshots.Mark | None) -> None:
        """A nearly quiet pass committed `news`'s waits; `changes`: where the job writes stood
        as `ran` takes it (None: the next pass is a full one)."""
        self.nearly += 1
        self.told = tuple(w.job_id for w in news.waits)
        self._seen = None if changes is None else replace(news.seen, changes=changes)

    def forget(self) -> None:
        """The next pass is a full one."""
        self._seen = None

    def ran(
        self,
        *,
        epoch: int | None,
        changes: snapshots.Mark | None,
        snapshot: Snapshot,
        behind: int,
        troubled: bool,
        placed: Sequence[JobView] | None = None,
        decisions: Sequence[CycleDecision] = (),
    ) -> None:
        """A full pass committed its decisions, made on `snapshot`, under the lease `epoch`.
        `changes`: on SQLite the count of job writes as its commit left it, where nothing but
        its own writes came between its read and its commit (None otherwise): the waits it
        wrote are then shown, and the next pass may already be skipped; on PostgreSQL the
        snapshot taken before its read (`snapshots.mark`). `behind`: how many waiting jobs
        waited behind a lane full from the start. `troubled`: it quarantined a job or had to
        isolate one. `placed`: the jobs holding resources as read from the store
        (`snapshots.placed`), where the snapshot's carry more (predicted runtimes).
        `decisions`: the pass's, whose waits give each full lane's words to jobs written later
        (without them, only a quiet pass is taken). Later passes may be skipped only if every
        waiting job waited behind a full lane and none could have gone otherwise (module
        docstring)."""
        self._seen = None
        if epoch is None or changes is None or troubled:
            return
        if not snapshot.pending or behind != len(snapshot.pending):
            return
        if _may_go_otherwise(snapshot.pending, snapshot.running):
            return
        lanes = _lanes(snapshot.pending, decisions)
        if lanes is None:
            return
        running = tuple(snapshot.running if placed is None else placed)
        self._seen = _Seen(epoch, changes, running, tuple(snapshot.queues), lanes)


def _lanes(
    pending: Sequence[JobView], decisions: Sequence[CycleDecision]
) -> dict[str, tuple[WaitReason, ...]] | None:
    """Queue -> the wait of the jobs behind its lane, from a pass in which every waiting job
    waited behind a full lane; None if two jobs of one queue waited for different reasons."""
    queue = {job.id: job.queue for job in pending}
    lanes: dict[str, tuple[WaitReason, ...]] = {}
    for decision in decisions:
        if isinstance(decision, Wait) and decision.job_id in queue:
            said = lanes.setdefault(queue[decision.job_id], decision.reasons)
            if said != decision.reasons:
                return None
    return lanes


def _behind(row: snapshots.Written, lanes: dict[str, tuple[WaitReason, ...]]) -> Wait | None:
    """The wait a full pass would give this job written since the last pass, if it waits here
    behind one of the last pass's full lanes and nothing could let it go otherwise; else None
    (a full pass is needed)."""
    reasons = lanes.get(row.queue)
    if reasons is None or row.state not in WAITING or row.elsewhere:
        return None
    if row.preempted:
        return None  # a preemption's victim requeued: it may nominate its preemptor
    if row.view is None:
        return None  # quarantined by a full pass
    if row.view.deferrable:
        return None  # the green planner may hold it for a greener hour
    return Wait(row.id, reasons, position=0)  # the position is not stored


def _may_go_otherwise(pending: Sequence[JobView], running: Sequence[JobView]) -> bool:
    """Whether a job behind a full lane might not wait for it at a later time with nothing
    changed: one the green planner may hold (deferrable), or one a preemption nominates; nor
    is a pass with a running elastic job quiet, which may grow or shrink (scheduler/elastic)."""
    if any(j.terminating or j.preempted_by or j.elastic for j in running):
        return True
    return any(j.deferrable or j.preempted_by for j in pending)
