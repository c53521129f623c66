"""The executor reconciler: make every bound replica run, and every job reflect its replicas.

Each pass reads what should be (bound replicas, cancel requests) and what is (the executor's
poll), launches what is missing, stops what must stop, and records outcomes. Launching is
idempotent per (job, attempt, replica), so a crash between launch and record launches nothing
twice: the next pass finds the same replica already running. What a pass reads and writes is the
jobs' context's (services/jobs/launches.py, services/jobs/reconciling.py); the loop keeps the
order and talks to the executors, outside any transaction.

A pass launches at most `MAX_LAUNCHES` replicas and for at most `LAUNCH_BUDGET_S` (the launch
under way is not cut), taking the jobs in turn: each job's next replica, jobs with fewer left
first; the rest wait for the next pass, which the controller starts at once (`deferred`). A
gang is still placed whole by the scheduler; only its launch spreads over passes. Without the
bound, a gang of 1,024 one-millicore replicas held the controller for 7 minutes, one launch
after another: the lease expired and every other tenant's job waited (issue 35).
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from aicc.executors.base import Executor, ReplicaState
from aicc.loops.lease import Lease
from aicc.loops.registry import Declared
from aicc.loops.steps import EveryPass, Pass, Report
from aicc.services.common import utcnow
from aicc.services.images.images import Pulls
from aicc.services.jobs import launches, reconciling
from aicc.services.jobs.launches import MAX_LAUNCHES, Work
from aicc.services.nodes import node_health
from aicc.store.db import Database
from aicc.store.sealing import Sealer

log = logging.getLogger(__name__)

LAUNCH_BUDGET_S = 2.0  # no launch starts after this long into a pass's launches


def act(
    work: list[Work],
    executors: dict[str, Executor],
    *,
    budget_s: float = LAUNCH_BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, tuple[str | None, ReplicaState | None]]:
    """Launch, cancel and poll, outside any transaction. replica id -> (handle, observed state).
    Launches stop `budget_s` into the work (the one under way finishes): a replica not launched
    is left out of the answer, still bound, for the next pass; polls and cancels go on."""
    seen: dict[str, tuple[str | None, ReplicaState | None]] = {}
    # launches first, in the turns `gather` chose: the budget cuts the last turns, never polls
    ordered = sorted((item for item in work if item.launch is not None), key=lambda i: i.turn)
    ordered += [item for item in work if item.launch is None]
    deadline = clock() + budget_s
    for item in ordered:
        executor = executors.get(item.executor)
        if executor is None:
            seen[item.replica_id] = (
                item.handle,
                ReplicaState("lost", reason="node_lost", message=f"no executor {item.executor}"),
            )
            continue
        handle = item.handle
        if item.refused is not None:
            seen[item.replica_id] = (handle, item.refused)
            continue
        if item.launch is not None and clock() > deadline:
            continue  # out of this pass's launch budget: the next pass launches it
        try:
            if item.launch is not None:
                try:
                    handle = executor.launch(item.launch)
                except OSError as err:
                    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    # A full disk is the machine's state, not the job's fault: the replica
                    # stays bound and the next pass launches it again.
                    log.warning("replica %s: launch waits for disk space: %s", item.replica_id, err)
                    continue
            if handle is None:  # stopped before it ever launched
                seen[item.replica_id] = (None, ReplicaState("exited", reason="cancelled"))
                continue
            if item.cancel:
                executor.cancel(handle)
            state = executor.poll(handle)
            if (
                state.phase == "running"
                and state.device_indices is None
                and executor.capabilities.picks_devices
            ):
                picked = executor.device_indices(handle)
                state = replace(state, device_indices=tuple(picked)) if picked else state
            seen[item.replica_id] = (handle, state)
        except Exception as err:  # an engine error is this replica's failure, not the loop's
            log.exception("replica %s: executor %s failed", item.replica_id, item.executor)
            seen[item.replica_id] = (
                handle,
                ReplicaState("exited", reason="supervisor_error", message=str(err)),
            )
    return seen


def cycle(
    db: Database,
    lease: Lease,
    executors: dict[str, Executor],
    sealer: Sealer,
    now: datetime,
    health: node_health.Policy = node_health.Policy(),
    pulls: Pulls | None = None,
) -> Report:
    """One pass: launch, stop and poll, then record what was seen. `pulls`: the center
    registry's pull credentials for replicas in its images."""
    with db.reader() as session:  # reading needs no fence; only the writes below do
        work, left = launches.gather(session, sealer, MAX_LAUNCHES, pulls)
    if not work:
        return Report()
    seen = act(work, executors)
    with db.session() as session:
        now = utcnow()  # acting took time: fence and record at the present
        lease.fence(session, now)
        lost = reconciling.write(session, sealer, work, seen, now=now, health=health)
    launched = any(item.launch is not None and seen.get(item.replica_id) for item in work)
    starting = any(
        state is not None and state.phase in ("starting", "running") and not state.started_at
        for _, state in seen.values()
    )
    # replicas left for the next pass: beyond this pass's count, or cut by its time budget
    # (`act` leaves them out, as it does a launch that waits for disk space: only a pass that
    # launched something brings the next one at once, so a full disk is not polled in a spin)
    cut = any(item.launch is not None and item.replica_id not in seen for item in work)
    return Report(frozenset(lost), launched, starting, deferred=launched and (left > 0 or cut))


class Reconcile(EveryPass):
    """The jobs' second step: one `cycle` at every pass. It sets the pass's `observed` (every
    active replica is polled after it, what metering counts to) and its `report`."""

    name = "reconcile"

    def __init__(self, health: node_health.Policy, pulls: Pulls | None = None) -> None:
        self.health = health
        self.pulls = pulls

    def run(self, pass_: Pass) -> None:
        pass_.observed = pass_.now()
        pass_.report = cycle(
            pass_.db,
            pass_.lease,
            pass_.executors,
            pass_.sealer,
            pass_.now(),
            self.health,
            self.pulls,
        )


STEP = Declared(order=30, build=lambda context: Reconcile(context.health, context.pulls))
