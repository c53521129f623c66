"""Runtime predictions for the waiting jobs, learned from the jobs of the store that succeeded.

The `predicted` ladder (scheduler/plugins/service.py) orders waiting jobs by the work they are
predicted to have left. `scheduler/predict.py` predicts a job's runtime from those of like jobs
(the same project asking the same devices) that finished, combined with the job's own
declaration. `Runtimes` is the scheduling loop's predictor: at each pass it is fed the jobs
that succeeded since the last (after a restart, the latest `LEARN_FIRST`), then gives each
waiting job's view its prediction. A job's runtime here is its last attempt's, from its start to
its end (a job resumed from a checkpoint counts what its last attempt ran). Only a profile that
reads predictions pays for them (`wanted`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from aicc.core.states import JobState
from aicc.scheduler import predict
from aicc.scheduler.plugins.service import Predicted, devices
from aicc.scheduler.profile import Profile
from aicc.scheduler.snapshot import JobView, Snapshot
from aicc.services.jobs.snapshots import job_view
from aicc.store.tables.jobs import JobRow

LEARN_FIRST = 20_000  # the latest succeeded jobs a fresh predictor learns from


def wanted(profile: Profile) -> bool:
    """Whether the profile's queue order reads predicted runtimes."""
    return any(isinstance(plugin, Predicted) for plugin, _ in profile.queue_sort)


class Runtimes:
    """A predictor and how far through the succeeded jobs it has read (their end, then id)."""

    def __init__(self, predictor: predict.RuntimePredictor | None = None) -> None:
        self.predictor = predictor or predict.RuntimePredictor()
        self._after: tuple[datetime, str] | None = None

    def learn(self, session: Session) -> int:
        """Feed the predictor the jobs that succeeded since the last call; how many were."""
        query = select(JobRow).where(
            JobRow.state == JobState.SUCCEEDED.value,
            JobRow.started_at.is_not(None),
            JobRow.ended_at.is_not(None),
        )
        if self._after is None:
            latest = query.order_by(JobRow.ended_at.desc(), JobRow.id.desc()).limit(LEARN_FIRST)
            rows = list(session.scalars(latest))[::-1]
        else:
            at, last = self._after
            # a range of the index (state, end), then the ties of the last end read
            later = and_(JobRow.ended_at >= at, or_(JobRow.ended_at > at, JobRow.id > last))
            rows = list(session.scalars(query.where(later).order_by(JobRow.ended_at, JobRow.id)))
        for row in rows:
            assert row.started_at is not None and row.ended_at is not None
            try:
                view = job_view(row)
            except ValidationError:
                continue  # a spec this version cannot read teaches nothing
            runtime = (row.ended_at - row.started_at).total_seconds()
            self.predictor.observe(_key(view), runtime, view.max_runtime_s)
        if rows:
            last_row = rows[-1]
            assert last_row.ended_at is not None
            self._after = (last_row.ended_at, last_row.id)
        return len(rows)

    def apply(self, session: Session, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each job's predicted runtime, waiting and placed alike (the
        `service` rule ranks them on one ladder), after learning what finished since."""
        self.learn(session)
        pending, running = self.predicted(snapshot.pending), self.predicted(snapshot.running)
        return replace(snapshot, pending=pending, running=running)

    def predicted(self, jobs: Sequence[JobView]) -> list[JobView]:
        """The jobs' views, each with its runtime predicted from what has finished so far (made
        afresh at each pass, so a waiting job's prediction follows its like jobs as they end)."""
        return [
            replace(job, predicted_runtime_s=self.predictor.predict(_key(job), job.max_runtime_s))
            for job in jobs
        ]


def _key(job: JobView) -> tuple[str, float]:
    return predict.key(job.project_id, devices(job))
