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
only on the waiting jobs (any write to a job row moves `snapshots.changes`, whoever wrote it),
the jobs holding resources (their lanes' counts), and the queues' limits, which are read again
and compared. Two things can let a job behind a full lane go the usual way, and a quiet pass is
never taken while either could: a deferrable job (the green planner may hold it for a greener
hour, which depends on the time) and a preemption under way (its preemptor is nominated).

Exactness over speed: without the count of job writes (PostgreSQL), under another lease epoch (a
new leader, which may have missed writes), after a restart (nothing remembered), or after a pass
that did not end in its commit, the next pass is a full one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from aicc.scheduler.snapshot import JobView, QueueView, Snapshot
from aicc.services.jobs import snapshots


@dataclass(frozen=True)
class _Seen:
    """What the last pass's waits rest on: the lease epoch it held, the count of job writes as
    its commit left it, the jobs holding resources and the queues."""

    epoch: int
    changes: int
    running: tuple[JobView, ...]
    queues: tuple[QueueView, ...]


class Quiet:
    """The scheduling loop's memory of its last pass, kept by the loop that owns it (one per
    controller; its passes run one at a time)."""

    def __init__(self) -> None:
        self._seen: _Seen | None = None
        self.skipped = 0  # passes not run, for tests and benchmarks

    def still(self, session: Session, epoch: int | None) -> bool:
        """Whether a full pass now would only make the last pass's waits again, already shown:
        then the caller skips it. Reads the count of job writes, the running jobs and the
        queues in `session` (a reader)."""
        seen = self._seen
        if seen is None or epoch is None or epoch != seen.epoch:
            return False
        if snapshots.changes(session) != seen.changes:
            return False
        if (
            snapshots.queue_views(session) != seen.queues
            or snapshots.placed(session) != seen.running
        ):
            return False
        self.skipped += 1
        return True

    def forget(self) -> None:
        """The next pass is a full one."""
        self._seen = None

    def ran(
        self,
        *,
        epoch: int | None,
        changes: int | None,
        snapshot: Snapshot,
        behind: int,
        troubled: bool,
        placed: Sequence[JobView] | None = None,
    ) -> None:
        """A full pass committed its decisions, made on `snapshot`, under the lease `epoch`.
        `changes`: the count of job writes as its commit left it, where nothing but its own
        writes came between its read and its commit (None otherwise): the waits it wrote are
        then shown, and the next pass may already be skipped. `behind`: how many waiting jobs
        waited behind a lane full from the start. `troubled`: it quarantined a job or had to
        isolate one. `placed`: the jobs holding resources as read from the store
        (`snapshots.placed`), where the snapshot's carry more (predicted runtimes). Later passes
        may be skipped only if every waiting job waited behind a full lane and none could have
        gone otherwise (module docstring)."""
        self._seen = None
        if epoch is None or changes is None or troubled:
            return
        if not snapshot.pending or behind != len(snapshot.pending):
            return
        if _may_go_otherwise(snapshot.pending, snapshot.running):
            return
        running = tuple(snapshot.running if placed is None else placed)
        self._seen = _Seen(epoch, changes, running, tuple(snapshot.queues))


def _may_go_otherwise(pending: Sequence[JobView], running: Sequence[JobView]) -> bool:
    """Whether a job behind a full lane might not wait for it at a later time with nothing
    changed: one the green planner may hold (deferrable), or one a preemption nominates."""
    if any(j.terminating or j.preempted_by for j in running):
        return True
    return any(j.deferrable or j.preempted_by for j in pending)
