"""How long each project's jobs wait beside how long they run (issue 63.3): per project, the
mean and 95th percentile slowdown, (wait + run) / run, of the jobs that finished (succeeded or
failed) in a window; the one read model (`views.ProjectSlowdown`) that `aicc queue slowdown`
and the portal's quotas page both show, to see whether the scheduler's aging treats tenants
alike.

A job's run is what its attempts ran: per attempt, from its first replica's start to its last
replica's end; its wait is the rest of the time from submission to its end (queueing, and the
gaps between attempts). A run counts at least one second, so a job that ran a moment is not
an infinite slowdown. Cancelled jobs are left out: their end is their owner's choice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.services.common import utcnow
from aicc.services.jobs.views import ProjectSlowdown
from aicc.services.tenancy import tenancy
from aicc.store.tables.jobs import JobRow, ReplicaRow

FINISHED = ("succeeded", "failed")
DEFAULT_WINDOW_S = 7 * 86400
MIN_RUN_S = 1.0


def by_project(
    session: Session,
    who: Principal,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    project: str | None = None,
    now: datetime | None = None,
) -> list[ProjectSlowdown]:
    """Every project `who` may read that finished a job in the last `window_s` seconds (or the
    one named, by id or name: another tenant's is NotFound), most slowed down first (by p95,
    then mean, then name)."""
    since = (now or utcnow()) - timedelta(seconds=window_s)
    if project is not None:
        visible = [tenancy.resolve_project(session, who, project)]
    else:
        visible = tenancy.list_projects(session, who)
    names = {p.id: p.name for p in visible}
    if not names:
        return []
    jobs = session.execute(
        select(JobRow.id, JobRow.project_id, JobRow.created_at, JobRow.ended_at).where(
            JobRow.state.in_(FINISHED),
            JobRow.ended_at >= since,
            JobRow.started_at.is_not(None),
            JobRow.project_id.in_(names),
        )
    ).all()
    ran = _ran_s(session, [j.id for j in jobs])
    slowdowns: dict[str, list[float]] = defaultdict(list)
    for job_id, project_id, created, ended in jobs:
        run = ran.get(job_id, 0.0)
        if run <= 0 or ended is None:
            continue  # no replica record of its run (never started one): nothing to compare
        waited = max((ended - created).total_seconds() - run, 0.0)
        counted = max(run, MIN_RUN_S)  # never below 1: a moment's run is not a slowdown under 1
        slowdowns[project_id].append((waited + counted) / counted)
    out = [
        ProjectSlowdown(
            project_id=project_id,
            project=names[project_id],
            jobs=len(values),
            mean=sum(values) / len(values),
            p95=percentile(values, 0.95),
            since=since,
        )
        for project_id, values in slowdowns.items()
    ]
    out.sort(key=lambda s: (-s.p95, -s.mean, s.project))
    return out


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value at or above a `q` share of them."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _ran_s(session: Session, job_ids: list[str]) -> dict[str, float]:
    """Seconds each job ran, over its attempts (first replica start to last replica end)."""
    out: dict[str, float] = defaultdict(float)
    for start in range(0, len(job_ids), 500):
        batch = job_ids[start : start + 500]
        rows = session.execute(
            select(
                ReplicaRow.job_id,
                func.min(ReplicaRow.started_at),
                func.max(ReplicaRow.ended_at),
            )
            .where(ReplicaRow.job_id.in_(batch), ReplicaRow.started_at.is_not(None))
            .group_by(ReplicaRow.job_id, ReplicaRow.attempt)
        ).all()
        for job_id, first, last in rows:
            if first is not None and last is not None and last > first:
                out[job_id] += (last - first).total_seconds()
    return out
