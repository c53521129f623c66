"""Why a job waits: the same scheduler, run on the current snapshot, says what it would decide."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.scheduler.fifo import schedule
from aicc.scheduler.snapshot import Wait, WaitReason
from aicc.services import snapshots
from aicc.services.common import utcnow
from aicc.store.tables import JobRow, QueueRow


@dataclass(frozen=True)
class Explanation:
    reasons: list[WaitReason]
    position: int | None


def explain(session: Session, job: JobRow) -> Explanation:
    state = JobState(job.state)
    if state is JobState.PENDING:
        queue = session.get(QueueRow, job.queue_id)
        if queue is not None and queue.max_running is not None and "runs at most" in job.message:
            return Explanation([WaitReason("queue", job.message)], _position(session, job))
    if state not in (JobState.PENDING, JobState.ADMITTED):
        return Explanation(
            [WaitReason("not_waiting", f"the job is {state.value}: {job.message}")], None
        )
    snapshot = snapshots.build(session, utcnow(), states=("pending", "admitted"))
    for decision in schedule(snapshot):
        if decision.job_id == job.id:
            if isinstance(decision, Wait):
                return Explanation(list(decision.reasons), decision.position)
            return Explanation(
                [WaitReason("starting", "it fits now and is placed on the next pass")], 0
            )
    return Explanation([WaitReason("unknown", "the job is not in the waiting set")], None)


def _position(session: Session, job: JobRow) -> int:
    ahead = session.scalars(
        select(JobRow.id).where(
            JobRow.state.in_(("pending", "admitted")),
            (JobRow.priority > job.priority)
            | ((JobRow.priority == job.priority) & (JobRow.created_at < job.created_at)),
        )
    )
    return len(list(ahead)) + 1
