"""Why a job waits: the live scheduler's own profile, run on the current snapshot, says what it
would decide and when the job would start if running jobs end as declared (a what-if replay)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from aicc.billing import budgets
from aicc.core.states import JobState
from aicc.scheduler import explain as what_if
from aicc.scheduler.framework import Profile
from aicc.scheduler.snapshot import WaitReason
from aicc.services import snapshots
from aicc.services.common import utcnow
from aicc.store.tables import JobRow


@dataclass(frozen=True)
class Explanation:
    reasons: list[WaitReason]
    position: int | None
    estimated_start: datetime | None = None


def explain(
    session: Session, job: JobRow, profile: Profile, billing: budgets.Context | None = None
) -> Explanation:
    state = JobState(job.state)
    if state not in (JobState.PENDING, JobState.ADMITTED):
        return Explanation(
            [WaitReason("not_waiting", f"the job is {state.value}: {job.message}")], None
        )
    snapshot = snapshots.build(session, utcnow(), billing=billing)
    found = what_if.explain(snapshot, job.id, profile)
    return Explanation(list(found.reasons), found.position, found.estimated_start)
