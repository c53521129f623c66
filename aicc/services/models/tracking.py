"""MLflow's tracking, kept by AICC (docs/interop.md, "MLflow"): experiments, runs, their params,
tags and metrics, for the stock `mlflow` client that `/mlflow` serves (`api/routers/mlflow.py`).

An experiment is a named group of runs within one project: the caller's default project, which
is MLflow's one name space for that caller (`get-by-name`, `search`, and experiment "0", the
client's default, which is that project's `Default`). Runs, experiments and registered models
of a project another tenant cannot read are not found (404, RESOURCE_DOES_NOT_EXIST).

A run has no job when it was logged from outside the center (a laptop). A job cannot reach the
server (its own network namespace, executors/netns.py), so inside a job MLflow writes its own
file store to `$AICC_OUTPUT_DIR/mlruns` (executors/environment.py): the job's curves read its
metrics there while it runs (services/jobs/metrics.py), and once the job ended `import_job`
copies its runs here with `job_id` set; their artifacts stay the job's outputs. What a job
wrote is read through the guard of job-written files, and only what parses: a run folder not
named as MLflow names one, or taken by another run already, is left out.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, can_read, can_write
from aicc.executors import jobfiles
from aicc.services.common import Conflict, Invalid, NotFound, ServiceError, from_row, new_id, utcnow
from aicc.services.jobs import census, jobs
from aicc.services.models.views import TrackedExperiment, TrackedMetric, TrackedRun
from aicc.services.tenancy import directory, tenancy
from aicc.services.tenancy.views import Project
from aicc.store.tables.models import (
    MlflowExperimentRow,
    MlflowJobImportRow,
    MlflowMetricRow,
    MlflowRunRow,
    MlflowRunValueRow,
)

DEFAULT_ID = "0"  # the client's experiment when none is set
DEFAULT_NAME = "Default"
STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
MAX_NAME = 256
MAX_KEY = 250  # MLflow's own limit for a param's, tag's or metric's key
MAX_PARAM = 6000  # MLflow's own limit for a param's value
MAX_TAG = 8000
MAX_BATCH = 1000  # metrics in one log-batch, as MLflow's
MAX_PAGE = 1000
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_KEY = re.compile(r"^[A-Za-z0-9_\-. /]+$")  # MLflow's own rule for keys
MAX_IMPORTED_POINTS = 100_000  # of one job's runs together
MAX_IMPORTED_RUNS = 100
RUNS = "mlruns"  # the file store's folder in a job's outputs


def _ms() -> int:
    return int(utcnow().timestamp() * 1000)


def _project(session: Session, who: Principal) -> Project:
    """The caller's MLflow name space: their default project."""
    return tenancy.resolve_project(session, who, None)


def _name(value: str, what: str) -> str:
    if not value or len(value) > MAX_NAME or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise Invalid(
            "{what}: 1 to {most} characters, without control characters", what=what, most=MAX_NAME
        )
    return value


def _key(key: object, what: str) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY or not _KEY.match(key):
        raise Invalid(
            "{what} key {key!r}: 1 to {most} letters, digits, '_', '-', '.', ' ' or '/'",
            what=what,
            key=str(key)[:100],
            most=MAX_KEY,
        )
    if ".." in key.split("/") or key.startswith("/"):
        raise Invalid("{what} key {key!r}: no '..' and no leading '/'", what=what, key=key[:100])
    return key


# -- experiments -------------------------------------------------------------------------------


def _experiment_view(row: MlflowExperimentRow) -> TrackedExperiment:
    tags = {str(k): str(v) for k, v in (row.tags or {}).items()}
    return from_row(TrackedExperiment, row, tags=tags)


def _experiment_row(
    session: Session, who: Principal, experiment_id: str, *, write: bool = False
) -> MlflowExperimentRow:
    if experiment_id == DEFAULT_ID:
        project = _project(session, who)
        row = session.scalar(
            select(MlflowExperimentRow).where(
                MlflowExperimentRow.project_id == project.id,
                MlflowExperimentRow.name == DEFAULT_NAME,
            )
        )
        if row is None and write:
            row = _make_experiment(session, who, project, DEFAULT_NAME, {})
    else:
        row = session.get(MlflowExperimentRow, experiment_id)
    if row is not None:
        owner = directory.project(session, row.project_id)
        allowed = can_write if write else can_read
        if owner is not None and allowed(who, org_id=owner.org_id, project_id=owner.id):
            return row
    raise NotFound("experiment {experiment_id} not found", experiment_id=experiment_id[:64])


def _make_experiment(
    session: Session, who: Principal, project: Project, name: str, tags: dict[str, str]
) -> MlflowExperimentRow:
    now = utcnow()
    row = MlflowExperimentRow(
        id=new_id("exp"),
        project_id=project.id,
        name=name,
        lifecycle_stage="active",
        tags=tags,
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def create_experiment(
    session: Session, who: Principal, *, name: str, tags: dict[str, str] | None = None
) -> TrackedExperiment:
    """A new experiment in the caller's default project (a name taken there: Conflict)."""
    project = _project(session, who)
    if not can_write(who, org_id=project.org_id, project_id=project.id):
        raise NotFound("project {ref!r} not found", ref=project.name)
    _name(name, "name")
    for key in tags or {}:
        _key(key, "tag")
    taken = session.scalar(
        select(MlflowExperimentRow.id).where(
            MlflowExperimentRow.project_id == project.id, MlflowExperimentRow.name == name
        )
    )
    if taken is not None:
        raise Conflict("experiment {name!r} already exists", name=name[:100])
    return _experiment_view(_make_experiment(session, who, project, name, dict(tags or {})))


def get_experiment(session: Session, who: Principal, experiment_id: str) -> TrackedExperiment:
    return _experiment_view(_experiment_row(session, who, experiment_id))


def experiment_by_name(session: Session, who: Principal, name: str) -> TrackedExperiment:
    project = _project(session, who)
    row = session.scalar(
        select(MlflowExperimentRow).where(
            MlflowExperimentRow.project_id == project.id, MlflowExperimentRow.name == name
        )
    )
    if row is None:
        raise NotFound("experiment {name!r} not found", name=name[:100])
    return _experiment_view(row)


def search_experiments(
    session: Session, who: Principal, *, limit: int, offset: int
) -> tuple[list[TrackedExperiment], int | None]:
    """The active experiments of the caller's default project, newest first; the next page's
    offset, or None on the last."""
    project = _project(session, who)
    rows = session.scalars(
        select(MlflowExperimentRow)
        .where(
            MlflowExperimentRow.project_id == project.id,
            MlflowExperimentRow.lifecycle_stage == "active",
        )
        .order_by(MlflowExperimentRow.created_at.desc(), MlflowExperimentRow.id)
        .offset(offset)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    return [_experiment_view(r) for r in rows[:limit]], offset + limit if more else None


# -- runs --------------------------------------------------------------------------------------


def artifact_uri(row: MlflowRunRow) -> str:
    """Where the stock client puts and gets the run's artifacts: MLflow's artifact proxy under
    the tracking URI (`mlflow-artifacts:` makes the client use it)."""
    return f"mlflow-artifacts:/{row.experiment_id}/{row.id}/artifacts"


def _run_view(session: Session, row: MlflowRunRow) -> TrackedRun:
    values = session.scalars(select(MlflowRunValueRow).where(MlflowRunValueRow.run_id == row.id))
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for value in values:
        (params if value.kind == "param" else tags)[value.key] = value.value
    latest = (
        select(MlflowMetricRow.key, func.max(MlflowMetricRow.id).label("id"))
        .where(MlflowMetricRow.run_id == row.id)
        .group_by(MlflowMetricRow.key)
        .subquery()
    )
    points = session.scalars(
        select(MlflowMetricRow).join(latest, MlflowMetricRow.id == latest.c.id)
    ).all()
    user = directory.user(session, row.user_id)
    return from_row(
        TrackedRun,
        row,
        user=user.name if user else "",
        artifact_uri=artifact_uri(row),
        params=params,
        tags=tags,
        metrics=[_metric(p) for p in sorted(points, key=lambda p: p.key)],
    )


def _metric(row: MlflowMetricRow) -> TrackedMetric:
    return from_row(TrackedMetric, row)


def _run_row(session: Session, who: Principal, run_id: str, *, write: bool = False) -> MlflowRunRow:
    """The run, if the caller may read it (`write`: change it); else NotFound."""
    row = session.get(MlflowRunRow, run_id) if isinstance(run_id, str) else None
    if row is not None:
        project = directory.project(session, row.project_id)
        allowed = can_write if write else can_read
        if project is not None and allowed(who, org_id=project.org_id, project_id=project.id):
            if write and row.job_id is not None:
                raise Invalid(
                    "run {run_id} was logged by job {job_id}: it is the job's and not changed "
                    "from outside",
                    run_id=row.id,
                    job_id=row.job_id,
                )
            return row
    raise NotFound("run {run_id} not found", run_id=str(run_id)[:64])


def create_run(
    session: Session,
    who: Principal,
    *,
    experiment_id: str,
    name: str = "",
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
) -> TrackedRun:
    """A new run of the experiment ("0": the caller's default project's `Default`, made when
    missing), RUNNING, with no job."""
    experiment = _experiment_row(session, who, experiment_id, write=True)
    if experiment.lifecycle_stage != "active":
        raise Invalid("experiment {experiment_id} is deleted", experiment_id=experiment.id)
    run_id = uuid.uuid4().hex
    row = MlflowRunRow(
        id=run_id,
        experiment_id=experiment.id,
        project_id=experiment.project_id,
        user_id=who.user_id,
        job_id=None,
        name=_name(name, "run_name") if name else run_id[:12],
        status="RUNNING",
        start_time=start_time if start_time is not None else _ms(),
        end_time=None,
        lifecycle_stage="active",
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    _write_values(session, row, "tag", (tags or {}).items())
    return _run_view(session, row)


def get_run(session: Session, who: Principal, run_id: str) -> TrackedRun:
    return _run_view(session, _run_row(session, who, run_id))


def update_run(
    session: Session,
    who: Principal,
    run_id: str,
    *,
    status: str | None = None,
    end_time: int | None = None,
    name: str | None = None,
) -> TrackedRun:
    row = _run_row(session, who, run_id, write=True)
    if status is not None:
        if status not in STATUSES:
            raise Invalid("status: one of {statuses}", statuses=", ".join(STATUSES))
        row.status = status
    if end_time is not None:
        row.end_time = end_time
    if name:
        row.name = _name(name, "run_name")
    return _run_view(session, row)


def delete_run(session: Session, who: Principal, run_id: str, *, deleted: bool = True) -> None:
    _run_row(session, who, run_id, write=True).lifecycle_stage = "deleted" if deleted else "active"


def _write_values(
    session: Session, row: MlflowRunRow, kind: str, items: Iterable[tuple[str, str]]
) -> None:
    most = MAX_PARAM if kind == "param" else MAX_TAG
    for key, value in items:
        _key(key, kind)
        if not isinstance(value, str) or len(value) > most:
            raise Invalid(
                "{kind} {key!r}: a text of at most {most} characters", kind=kind, key=key, most=most
            )
        found = session.get(MlflowRunValueRow, (row.id, kind, key))
        if found is None:
            session.add(MlflowRunValueRow(run_id=row.id, kind=kind, key=key, value=value))
        elif kind == "tag":
            found.value = value
        elif found.value != value:
            raise Invalid(
                "param {key!r} was logged as {old!r}: a param is logged once",
                key=key,
                old=found.value[:100],
            )
    session.flush()


@dataclass(frozen=True)
class Point:
    key: str
    value: float
    step: int
    timestamp: int


def point(key: object, value: object, step: object, timestamp: object) -> Point:
    """A metric point as a client sent it, checked: a finite number, whole step and time."""
    name = _key(key, "metric")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid("metric {key!r}: a finite number", key=name)
    for what, number in (("step", step), ("timestamp", timestamp)):
        if isinstance(number, bool) or not isinstance(number, int) or abs(number) > 2**62:
            raise Invalid("metric {key!r}: {what} must be a whole number", key=name, what=what)
    return Point(name, float(value), int(step), int(timestamp))  # type: ignore[call-overload]


def log_batch(
    session: Session,
    who: Principal,
    run_id: str,
    *,
    metrics: list[Point] = (),  # type: ignore[assignment]
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Metrics, params and tags of a run at once (log-metric, log-parameter and set-tag too)."""
    if len(metrics) > MAX_BATCH or len(params or {}) > 100 or len(tags or {}) > 100:
        raise Invalid("a batch holds at most {most} metrics, 100 params and 100 tags", most=1000)
    row = _run_row(session, who, run_id, write=True)
    _write_values(session, row, "param", (params or {}).items())
    _write_values(session, row, "tag", (tags or {}).items())
    session.add_all(
        MlflowMetricRow(run_id=row.id, key=p.key, value=p.value, step=p.step, timestamp=p.timestamp)
        for p in metrics
    )
    session.flush()


def history(session: Session, who: Principal, run_id: str, key: str) -> list[TrackedMetric]:
    row = _run_row(session, who, run_id)
    points = session.scalars(
        select(MlflowMetricRow)
        .where(MlflowMetricRow.run_id == row.id, MlflowMetricRow.key == key)
        .order_by(MlflowMetricRow.step, MlflowMetricRow.id)
        .limit(MAX_IMPORTED_POINTS)
    )
    return [_metric(p) for p in points]


def search_runs(
    session: Session,
    who: Principal,
    *,
    experiment_ids: list[str],
    deleted: bool = False,
    limit: int,
    offset: int,
) -> tuple[list[TrackedRun], int | None]:
    """The runs of these experiments (those the caller cannot read: none), newest first."""
    readable = []
    for experiment_id in experiment_ids[:100]:
        try:
            readable.append(_experiment_row(session, who, experiment_id).id)
        except NotFound:
            continue
    rows = session.scalars(
        select(MlflowRunRow)
        .where(
            MlflowRunRow.experiment_id.in_(readable),
            MlflowRunRow.lifecycle_stage == ("deleted" if deleted else "active"),
        )
        .order_by(MlflowRunRow.start_time.desc(), MlflowRunRow.id)
        .offset(offset)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    return [_run_view(session, r) for r in rows[:limit]], offset + limit if more else None


# -- a job's file store, once the job ended ----------------------------------------------------


def _scalar(text: str, key: str) -> str | None:
    """`key: value` of a meta.yaml the file store wrote, read as plain lines (never YAML-loaded:
    the job wrote it)."""
    for line in text.splitlines():
        if line.startswith(key + ":"):
            value = line[len(key) + 1 :].strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            return value
    return None


def _whole(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def read_points(data: bytes, key: str) -> list[Point]:
    """The lines `timestamp value step` of a file store's metric file; others are skipped."""
    found = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        try:
            timestamp, value, step = int(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            continue
        if math.isfinite(value):
            found.append(Point(key, value, step, timestamp))
    return found


def import_job(session: Session, job: jobs.Job, outputs: Path) -> int:
    """The runs in the ended job's `mlruns` as runs of its project, with `job_id`; each job
    once (`MlflowJobImportRow`). Returns how many were imported."""
    if session.get(MlflowJobImportRow, job.id) is not None:
        return 0
    files = jobfiles.JobFiles(outputs)
    imported = 0
    budget = [MAX_IMPORTED_POINTS]
    try:
        store = files.subdir(RUNS)
        for exp_dir in store.names():
            if imported >= MAX_IMPORTED_RUNS:
                break
            try:
                meta = store.read_bytes(f"{exp_dir}/meta.yaml", 16 * 1024).decode("utf-8")
                runs = [n for n in store.names(exp_dir) if RUN_ID.match(n)]
            except (OSError, jobfiles.Refused, UnicodeDecodeError):
                continue
            name = _scalar(meta, "name") or DEFAULT_NAME
            for run_dir in runs[: MAX_IMPORTED_RUNS - imported]:
                if _import_run(session, job, store.subdir(f"{exp_dir}/{run_dir}"), name, budget):
                    imported += 1
    except (FileNotFoundError, NotADirectoryError, jobfiles.Refused):
        pass
    session.add(MlflowJobImportRow(job_id=job.id, runs=imported, imported_at=utcnow()))
    session.flush()
    return imported


def _import_run(
    session: Session, job: jobs.Job, run: jobfiles.JobFiles, experiment: str, budget: list[int]
) -> bool:
    run_id = run.root.name
    if session.get(MlflowRunRow, run_id) is not None:
        return False  # taken: a run id is the run's alone
    try:
        meta = run.read_bytes("meta.yaml", 16 * 1024).decode("utf-8")
    except (OSError, jobfiles.Refused, UnicodeDecodeError):
        return False
    try:
        experiment = _name(experiment, "experiment")
    except Invalid:
        experiment = DEFAULT_NAME
    exp = session.scalar(
        select(MlflowExperimentRow).where(
            MlflowExperimentRow.project_id == job.project_id,
            MlflowExperimentRow.name == experiment,
        )
    )
    if exp is None:
        now = utcnow()
        exp = MlflowExperimentRow(
            id=new_id("exp"),
            project_id=job.project_id,
            name=experiment,
            lifecycle_stage="active",
            tags={},
            created_by=job.user_id,
            created_at=now,
            updated_at=now,
        )
        session.add(exp)
        session.flush()
    name = _scalar(meta, "run_name") or run_id[:12]
    row = MlflowRunRow(
        id=run_id,
        experiment_id=exp.id,
        project_id=job.project_id,
        user_id=job.user_id,
        job_id=job.id,
        name=name[:MAX_NAME],
        status=FILE_STATUS.get(_whole(_scalar(meta, "status")) or 0, "FINISHED"),
        start_time=_whole(_scalar(meta, "start_time")) or 0,
        end_time=_whole(_scalar(meta, "end_time")),
        lifecycle_stage="active",
        created_at=utcnow(),
    )
    if job.state != "succeeded" and row.status == "RUNNING":
        row.status = "FAILED" if job.state == "failed" else "KILLED"
    session.add(row)
    session.flush()
    for kind, folder in (("param", "params"), ("tag", "tags")):
        for key, value in _values(run, folder):
            try:
                _write_values(session, row, kind, [(key, value)])
            except Invalid:
                continue
    for key, data in _metric_files(run):
        points = read_points(data, key)[: budget[0]]
        budget[0] -= len(points)
        session.add_all(
            MlflowMetricRow(
                run_id=row.id, key=key, value=p.value, step=p.step, timestamp=p.timestamp
            )
            for p in points
        )
    session.flush()
    return True


def _values(run: jobfiles.JobFiles, folder: str) -> list[tuple[str, str]]:
    try:
        found = run.subdir(folder).walk()
    except (FileNotFoundError, NotADirectoryError, jobfiles.Refused):
        return []
    out = []
    for item in found[:1000]:
        try:
            text = run.read_bytes(f"{folder}/{item.path}", MAX_TAG).decode("utf-8")
        except (OSError, jobfiles.Refused, UnicodeDecodeError):
            continue
        out.append((item.path, text))
    return out


def _metric_files(run: jobfiles.JobFiles) -> list[tuple[str, bytes]]:
    try:
        metrics = run.subdir("metrics")
        listed = metrics.walk()
    except (FileNotFoundError, NotADirectoryError, jobfiles.Refused):
        return []
    out = []
    for item in listed[:1000]:
        try:
            out.append((item.path, metrics.read_bytes(item.path)))
        except (OSError, jobfiles.Refused):
            continue
    return out


def _ended_jobs(session: Session, *, most: int = 50) -> list[jobs.Job]:
    """Ended jobs whose `mlruns` were not looked at yet, oldest first."""
    seen = select(MlflowJobImportRow.job_id)
    found = (jobs.find(session, i) for i in census.ended_ids(session, skip=seen, most=most))
    return [job for job in found if job is not None]


def import_ended(session: Session, outputs_of: Callable[[jobs.Job], Path]) -> list[str]:
    """`import_job` for the jobs that ended since the last pass (a job whose outputs this
    server does not hold: looked at, nothing found); what each found, for the log."""
    done = []
    for job in _ended_jobs(session):
        found = 0
        user = directory.user(session, job.user_id) if job.user_id else None
        try:
            if user is None:
                raise NotFound("the job's owner is gone")
            outputs = outputs_of(jobs.get(session, tenancy.principal_of(session, user), job.id))
        except ServiceError:
            session.add(MlflowJobImportRow(job_id=job.id, runs=0, imported_at=utcnow()))
            session.flush()
            continue
        found = import_job(session, job, outputs)
        if found:
            done.append(f"{job.id}: {found} MLflow runs")
    return done
