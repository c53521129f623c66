"""Why a job waits: the live scheduler's own profile, run on the current snapshot, says what it
would decide and when the job would start if running jobs end as declared (a what-if replay).
Like the loop, it reads past a job that the scheduler cannot take: never a 500 for another's job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.scheduler import explain as what_if
from aicc.scheduler.framework import Profile, isolate, schedule
from aicc.scheduler.snapshot import Snapshot, WaitReason
from aicc.services.billing import budgets
from aicc.services.common import utcnow
from aicc.services.jobs import snapshots
from aicc.services.jobs.views import Explain, ExplainReason, Job


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
) -> Explain:
    """`site` adds what the live pass adds to the snapshot (services.power.Site.decorate): the
    carbon forecast and the power cap, so that a job held by `green` or `power_cap` says so."""
    state = JobState(job.state)
    if state not in (JobState.PENDING, JobState.ADMITTED):
        return _answer(
            job, [WaitReason("not_waiting", f"the job is {state.value}: {job.message}")], None
        )
    read = snapshots.read(session, utcnow(), billing=billing)
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
    return _answer(job, list(found.reasons), found.position, found.estimated_start)
