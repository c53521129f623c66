"""Why a job waits: the live scheduler's own profile, run on the current snapshot, says what it
would decide and when the job would start if running jobs end as declared (a what-if replay).
Like the loop, it reads past a job that the scheduler cannot take: never a 500 for another's job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.scheduler import explain as what_if
from aicc.scheduler.fit import fits_empty, window_allows
from aicc.scheduler.framework import Profile, isolate, schedule
from aicc.scheduler.snapshot import Snapshot, WaitReason
from aicc.services.billing import budgets
from aicc.services.common import utcnow
from aicc.services.jobs import snapshots
from aicc.services.jobs.views import Explain, ExplainReason, Job
from aicc.services.nodes import maintenance

_PLACEMENT = ("unschedulable", "resources", "gang", "reservation")


def _answer(
    job: Job, reasons: list[WaitReason], position: int | None, start: datetime | None = None
) -> Explain:
    found = [ExplainReason(code=r.code, message=r.message) for r in reasons]
    return Explain(state=job.state, reasons=found, position=position, estimated_start=start)


def explain(
    session: Session,
    job: Job,
    profile: Profile,
    billing: budgets.Context | None = None,
    site: Callable[[Session, Snapshot], Snapshot] | None = None,
    notice_s: float = snapshots.NOTICE_S,
    *,
    protect: snapshots.Protect,
) -> Explain:
    """`site` adds what the live pass adds to the snapshot (services.power.Site.decorate): the
    carbon forecast and the power cap, so that a job held by `green` or `power_cap` says so.
    `protect`: the replicas no preemption may take, as the live pass reads them."""
    state = JobState(job.state)
    if state not in (JobState.PENDING, JobState.ADMITTED):
        return _answer(
            job, [WaitReason("not_waiting", f"the job is {state.value}: {job.message}")], None
        )
    read = snapshots.read(session, utcnow(), protect=protect, billing=billing, notice_s=notice_s)
    if job.id in read.invalid:
        return _answer(job, [WaitReason("invalid_spec", read.invalid[job.id])], None)
    snapshot = read.snapshot
    if site is not None:
        snapshot = site(session, snapshot)

    def replay(snap: Snapshot) -> object:
        """This job's what-if while it is in `snap`; isolate tries snapshots without it too."""
        if any(j.id == job.id for j in snap.pending):
            return what_if.explain(snap, job.id, profile)
        return schedule(snap, profile)

    try:
        found = what_if.explain(snapshot, job.id, profile)
    except Exception:  # another job breaks the replay: answer without it, as the loop does
        snapshot, blamed = isolate(snapshot, profile, replay)
        if job.id in blamed:
            return _answer(job, [WaitReason("quarantined", blamed[job.id])], None)
        found = what_if.explain(snapshot, job.id, profile)
    reasons = list(found.reasons)
    if any(r.code in _PLACEMENT for r in reasons):
        held = window_reason(session, snapshot, job.id)
        reasons = [held, *reasons] if held is not None else reasons
    return _answer(job, reasons, found.position, found.estimated_start)


def window_reason(session: Session, snapshot: Snapshot, job_id: str) -> WaitReason | None:
    """The maintenance window that keeps the job off nodes it would fit on (its runtime would
    run into the window, or it declares none): the first to start, with its nodes and reason."""
    job = next((j for j in snapshot.pending if j.id == job_id), None)
    if job is None:
        return None
    held = [
        n
        for n in snapshot.nodes
        if n.schedulable and not window_allows(n, job.request) and fits_empty(n, job.request)
    ]
    if not held:
        return None
    windows = maintenance.upcoming(session, snapshot.now)
    found = [windows[n.name][1] for n in held if n.name in windows]
    if not found:
        return None
    first = min(found, key=lambda w: w.starts_at)
    names = sorted(n.name for n in held if n.name in windows and windows[n.name][1] == first)
    at = first.starts_at.strftime("%Y-%m-%d %H:%M")
    shown = ", ".join(names[:5]) + (f" +{len(names) - 5}" if len(names) > 5 else "")
    text = f"node maintenance from {at} UTC on {shown} ({first.reason})"
    return WaitReason("maintenance", text)
