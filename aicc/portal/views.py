"""What the pages show, gathered from the services with the signed-in person's principal.

Nothing here decides who may see what: the services do (`jobs.get`, `jobs.list_jobs`, and
`overview.job_counts` for the dashboard's counts by state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from aicc.api.state import AppState
from aicc.core.states import RUNNING, WAITING, JobState
from aicc.core.tenancy import Principal, can_write
from aicc.services.center import overview
from aicc.services.common import NotFound, ServiceError
from aicc.services.jobs import census, jobs, logs
from aicc.services.jobs import explain as explain_service
from aicc.services.jobs import views as jobs_views
from aicc.services.nodes import nodes
from aicc.services.nodes import views as nodes_views
from aicc.services.serving import lifecycle
from aicc.services.telemetry.views import PowerCurve
from aicc.services.tenancy import tenancy

FINISHED = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
# The order states are listed in (filters, the dashboard's chart): the life of a job.
STATE_ORDER = [*WAITING, *RUNNING, *FINISHED]
PAGE_SIZE = 50
DASHBOARD_JOBS = 8  # running and waiting jobs listed on the dashboard
RECENTLY_ENDED = 5
LOG_TAIL_BYTES = 64 * 1024
Stream = Literal["stdout", "stderr"]  # a replica's logs (the executors' `Stream`)


@dataclass(frozen=True)
class Dashboard:
    counts: dict[str, int]
    active: list[jobs_views.Job]  # running and waiting, newest first
    finished: list[jobs_views.Job]  # the latest that ended

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def total_of(self, states: tuple[JobState, ...]) -> int:
        return sum(self.counts.get(s.value, 0) for s in states)


@dataclass(frozen=True)
class JobList:
    items: list[jobs_views.Job]
    projects: list[tuple[str, str]]  # (id, name) the person may filter by
    state: str | None
    project: str | None
    next_cursor: str | None


@dataclass(frozen=True)
class LogView:
    replica: int
    stream: Stream
    text: str
    terminal: bool  # the job has ended: the log will not grow any more
    note: str | None = None  # a message key: why there is no log (yet)


@dataclass(frozen=True)
class JobDetail:
    job: jobs_views.Job
    events: list[jobs_views.Event]
    waiting_reasons: list[jobs_views.ExplainReason] = field(default_factory=list)
    position: int | None = None
    can_cancel: bool = False

    @property
    def terminal(self) -> bool:
        return JobState(self.job.state).is_terminal()

    @property
    def waiting(self) -> bool:
        return JobState(self.job.state) in WAITING

    @property
    def deadline(self) -> datetime | None:
        """The spec's deadline (the server stores it as an absolute time)."""
        value = self.job.spec.get("deadline")
        try:
            return datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    @property
    def deferrable(self) -> bool:
        return bool(self.job.spec.get("deferrable"))


def dashboard(session: Session, who: Principal) -> Dashboard:
    """The person's running and waiting jobs (up to DASHBOARD_JOBS, however old) and the latest
    few that ended, from the same `jobs.list_jobs` as the job list."""
    active: list[jobs.Job] = []
    for state in (*RUNNING, *WAITING):
        active += jobs.list_jobs(
            session, who, state=state.value, project=None, limit=DASHBOARD_JOBS, before_id=None
        )
    active = sorted(active, key=lambda r: r.id, reverse=True)[:DASHBOARD_JOBS]
    latest = jobs.list_jobs(session, who, state=None, project=None, limit=25, before_id=None)
    ended = [r for r in latest if JobState(r.state).is_terminal()][:RECENTLY_ENDED]
    return Dashboard(
        overview.job_counts(session, who),
        list(active),
        list(ended),
    )


def job_list(
    session: Session, who: Principal, *, state: str | None, project: str | None, before: str | None
) -> JobList:
    state = state if state in {s.value for s in JobState} else None
    projects = [(p.id, p.name) for p in tenancy.list_projects(session, who)]
    if project not in {pid for pid, _ in projects}:
        project = None
    rows = jobs.list_jobs(
        session, who, state=state, project=project, limit=PAGE_SIZE, before_id=before or None
    )
    return JobList(
        items=list(rows),
        projects=projects,
        state=state,
        project=project,
        next_cursor=rows[-1].id if len(rows) == PAGE_SIZE else None,
    )


def job_detail(session: Session, state: AppState, who: Principal, job_id: str) -> JobDetail:
    row = jobs.get(session, who, job_id)  # another tenant's job: NotFound, like the API
    job = row
    events = [
        jobs_views.Event.model_validate(e, from_attributes=True)
        for e in jobs.events(session, who, job_id)
    ]
    job_state = JobState(row.state)
    reasons: list[jobs_views.ExplainReason] = []
    position = None
    if job_state in WAITING:
        controller = state.controller
        found = explain_service.explain(
            session,
            row,
            controller.profile,
            controller.billing,
            controller.site.decorate,
            controller.notice_s,  # the window a job waits for is named (issue 40)
            protect=lifecycle.protected,
        )
        reasons = [jobs_views.ExplainReason(code=r.code, message=r.message) for r in found.reasons]
        position = found.position
    return JobDetail(
        job=job,
        events=events,
        waiting_reasons=reasons,
        position=position,
        can_cancel=(
            not job_state.is_terminal()
            and not row.cancel_requested
            and can_write(who, org_id=row.org_id, project_id=row.project_id)
        ),
    )


def job_log(
    session: Session,
    state: AppState,
    who: Principal,
    job_id: str,
    *,
    replica: int,
    stream: Stream,
) -> LogView:
    row = jobs.get(session, who, job_id)  # another tenant's job: NotFound
    ended = JobState(row.state).is_terminal()
    if not row.replicas:
        return LogView(replica, stream, "", ended, note="job.log.not_started")
    try:
        text = logs.read(
            session,
            state.sealer,
            row,
            state.executors,
            index=replica,
            stream=stream,
            tail=LOG_TAIL_BYTES,
        )
    except NotFound:
        return LogView(replica, stream, "", ended, note="job.log.no_replica")
    except (ServiceError, OSError):
        return LogView(replica, stream, "", ended, note="job.log.unreadable")
    return LogView(replica, stream, text, ended, note=None if text else "job.log.empty")


def node_list(session: Session) -> list[nodes_views.Node]:
    return nodes.infos(session, used=census.allocations(session))


def chart_data(counts: dict[str, int], label: Any) -> dict[str, Any]:
    """The dashboard's bar chart: one bar per state, in a job's life order, labels translated."""
    return {
        "states": [s.value for s in STATE_ORDER],
        "labels": [label(s.value) for s in STATE_ORDER],
        "values": [counts.get(s.value, 0) for s in STATE_ORDER],
    }


def duration_s(job: jobs_views.Job, now: datetime) -> float | None:
    if job.started_at is None:
        return None
    return max(0.0, ((job.ended_at or now) - job.started_at).total_seconds())


def power_chart(curve: PowerCurve, t: Any) -> dict[str, Any]:
    """A node's power curve for portal.js's `lines`: the mean and peak watts per bucket, and
    the limit in force as a stepped dashed line where its BMC said one."""
    times = [b.at.isoformat() for b in curve.buckets]
    series: list[dict[str, Any]] = [
        {"name": t("node.power.avg"), "values": [round(b.avg_w, 1) for b in curve.buckets]},
        {
            "name": t("node.power.max"),
            "values": [round(b.max_w, 1) for b in curve.buckets],
            "dashed": True,
        },
    ]
    if any(b.limit_w is not None for b in curve.buckets):
        series.append(
            {
                "name": t("node.power.limit"),
                "values": [b.limit_w for b in curve.buckets],
                "dashed": True,
                "step": True,
            }
        )
    return {"type": "lines", "times": times, "series": series, "unit": "W"}
