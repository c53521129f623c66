"""Notebooks: a person's JupyterLab in a project, each start a `kind: notebook` job.

A notebook is its owner's alone: nobody else, another member of the project or an operator,
sees it here or reaches it through the proxy (a 404, as for what does not exist). Its job runs
JupyterLab on the `PORT` the scheduler gave it, with the project's data sets mounted read-only
and, as `$HOME` and JupyterLab's root, the owner's persistent home in that project
(`$AICC_HOME/homes/PROJECT/USER` on the local executor), so a start after a stop or a cull
shows the same files.

JupyterLab asks every request for a token that only the server and the notebook's own process
know: an HMAC of the job and attempt under a key of the server (`Sealer.mac`), handed to the
replica at launch (`loops/reconcile.py`), derived again by the proxy and the culler, never
stored or shown. A retried attempt gets another token.

Idle culling (`loops/culling.py`): JupyterLab's `/api/status` says when anything last happened
(a request, a kernel's output), `/api/kernels` whether a kernel is busy, and NVML samples of the
replica's devices whether they worked; after `idle_timeout_s` of none of these the job is
stopped and ends `cancelled` with reason `idle_culled`. Metering ends with the replica.

A notebook may run in an image (`image`, a job spec's): then JupyterLab must be in the image,
as `python -m jupyterlab` (docs/notebooks.md). The image is kept as given in the notebook's
`resources` (under IMAGE_KEY, for want of a column) and resolved again at every start, so a
start checks that its owner may still pull it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.core.jobspec import NAME_PATTERN, JobKind, JobSpec, Resources
from aicc.core.states import JobState, Reason
from aicc.core.tenancy import Principal, can_write
from aicc.executors.base import Executor
from aicc.services.common import Conflict, Forbidden, Invalid, NotFound, from_row, new_id, utcnow
from aicc.services.data import datasets as data
from aicc.services.images import images
from aicc.services.jobs import endpoints, jobs
from aicc.services.jobs.views import Notebook, NotebookState
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.sealing import Sealer
from aicc.store.tables.jobs import JobRow, NotebookRow, ReplicaRow

MAX_IDLE_TIMEOUT_S = 7 * 86400
BUSY_DEVICE = 0.05  # a device sampled busier than this counts as activity
# where a notebook's `image` is kept in its row's `resources` (the job spec's resources never
# have it): taken out before the spec is built and before the view shows them
IMAGE_KEY = "image"
STARTING = frozenset({JobState.PENDING, JobState.ADMITTED, JobState.SCHEDULED, JobState.PREEMPTED})

# JupyterLab on the replica's port, under the proxy's path, rooted in the persistent home. The
# token comes in the environment (JUPYTER_TOKEN), never on a command line others could read.
COMMAND = (
    'exec python -m jupyterlab --no-browser --ip "$AICC_SERVICE_HOST" --port "$PORT" '
    '--ServerApp.base_url "/notebooks/$AICC_JOB_ID/" --ServerApp.root_dir "$HOME" '
    # replicas run as the server's account, root on some machines: JupyterLab's own refusal
    # of root protects nothing inside the sandbox
    "--ServerApp.allow_remote_access=True --ServerApp.allow_root=True "
    # nothing from the internet: no news, update checks or extension manager
    "--LabApp.news_url= --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "
    "--LabApp.extension_manager=readonly"
)


@dataclass(frozen=True)
class Upstream:
    """Where the proxy forwards a notebook's requests, and the token JupyterLab wants."""

    job_id: str
    url: str  # http://HOST:PORT
    token: str
    socket: str | None = None  # reached through this Unix socket instead (Endpoint.socket)
    # with every request to it: its replica token on TCP (Endpoint.headers), a secret
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Watched:
    """A running notebook as the culler asks it: its JupyterLab, and the devices it holds
    (node id, index), whose NVML samples the culler reads through telemetry, above jobs, into
    `devices_busy_at`."""

    notebook_id: str
    job_id: str
    url: str
    token: str
    idle_timeout_s: int
    started_at: datetime
    devices: tuple[tuple[str, int], ...] = ()
    devices_busy_at: datetime | None = None  # the last sample of its devices above BUSY_DEVICE
    socket: str | None = None  # reached through this Unix socket instead (Endpoint.socket)
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # Endpoint.headers


def token(sealer: Sealer, job_id: str, attempt: int) -> str:
    """The JupyterLab token of this attempt of this job (derived, never stored)."""
    return sealer.mac(f"notebook:{job_id}:{attempt}")


def home_of(job: JobRow) -> str:
    """Where the job's persistent home lies under the engine's homes: `PROJECT/USER`."""
    return f"{job.project_id}/{job.user_id}"


# --- the owner's notebooks ---


def create(
    session: Session,
    who: Principal,
    *,
    name: str,
    project: str | None = None,
    resources: dict[str, Any] | None = None,
    idle_timeout_s: int | None = None,
    datasets: list[str] | None = None,
    default_idle_timeout_s: int = 3600,
    start: bool = True,
    engines: Mapping[str, Executor],
    image: str | None = None,
    limits: jobs.SubmitLimits = jobs.SubmitLimits(),
) -> Notebook:
    """A new notebook of the caller in a project (their default one), started unless `start`
    is false. `resources` as a job spec's (`cpu`, `memory`, `gpu` or `accelerator`).
    `engines`: the server's, asked whether any can give a notebook its home. `image`: what it
    runs in (with JupyterLab), resolved in `limits.registry`: one the caller may not pull is
    a 422 now, started or not."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise Invalid(
            "name: {name!r} must be lowercase letters, digits and dashes, starting with a letter",
            name=name,
        )
    prj = tenancy.resolve_project(session, who, project)
    if not can_write(who, org_id=prj.org_id, project_id=prj.id):
        raise Forbidden("viewers cannot create notebooks")
    timeout = default_idle_timeout_s if idle_timeout_s is None else idle_timeout_s
    if not 1 <= timeout <= MAX_IDLE_TIMEOUT_S:
        raise Invalid(
            "idle_timeout_s: {value} must be between 1 and {most} seconds",
            value=timeout,
            most=MAX_IDLE_TIMEOUT_S,
        )
    try:
        wanted = Resources.model_validate(resources or {})
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in ("resources", *first["loc"]))
        raise Invalid("{field}: {problem}", field=where, problem=first["msg"]) from None
    for ref in datasets or ():
        data.get(session, who, ref, project=prj.id)  # a 404 naming it now, not a failed start
    kept = wanted.model_dump(mode="json")
    if image is not None:
        images.job_image(session, who, image, registry=limits.registry, project=prj.id)
        kept[IMAGE_KEY] = image
    now = utcnow()
    row = NotebookRow(
        id=new_id("nbk"),
        org_id=prj.org_id,
        project_id=prj.id,
        user_id=who.user_id,
        name=name,
        resources=kept,
        idle_timeout_s=timeout,
        datasets=list(dict.fromkeys(datasets)) if datasets is not None else None,
        cull_message="",
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(
            "notebook {name} already exists in project {project}", name=name, project=prj.name
        ) from None
    audit.record(session, who, "notebook.create", "notebook", row.id, org_id=row.org_id)
    if start:
        _start(session, who, row, engines, limits)
    return _view(session, row)


def list_notebooks(
    session: Session, who: Principal, *, project: str | None = None
) -> list[Notebook]:
    """The caller's own notebooks, in one project or all of theirs."""
    query = select(NotebookRow).where(NotebookRow.user_id == who.user_id)
    if project is not None:
        query = query.where(
            NotebookRow.project_id == tenancy.resolve_project(session, who, project).id
        )
    rows = session.scalars(query.order_by(NotebookRow.created_at))
    return [_view(session, row) for row in rows]


def get(session: Session, who: Principal, ref: str, *, project: str | None = None) -> Notebook:
    return _view(session, _own(session, who, ref, project))


def start(
    session: Session,
    who: Principal,
    ref: str,
    *,
    project: str | None = None,
    engines: Mapping[str, Executor],
    limits: jobs.SubmitLimits = jobs.SubmitLimits(),
) -> Notebook:
    """Start the notebook again (a new job on the same home); a running one is left as it is.
    `limits`: the center's, whose registry its image is resolved in again."""
    row = _own(session, who, ref, project)
    job = session.get(JobRow, row.job_id) if row.job_id else None
    if job is None or JobState(job.state).is_terminal() or job.cancel_requested:
        _start(session, who, row, engines, limits)
        audit.record(session, who, "notebook.start", "notebook", row.id, org_id=row.org_id)
    return _view(session, row)


def stop(session: Session, who: Principal, ref: str, *, project: str | None = None) -> Notebook:
    """Stop its job (JupyterLab gets SIGTERM); the home and its files stay."""
    row = _own(session, who, ref, project)
    job = session.get(JobRow, row.job_id) if row.job_id else None
    if job is not None and not (JobState(job.state).is_terminal() or job.cancel_requested):
        jobs.cancel(session, who, job.id)
        audit.record(session, who, "notebook.stop", "notebook", row.id, org_id=row.org_id)
    return _view(session, row)


def delete(session: Session, who: Principal, ref: str, *, project: str | None = None) -> None:
    """Stop it and forget it. The home stays: it is the owner's, shared by their notebooks
    in the project."""
    row = _own(session, who, ref, project)
    job = session.get(JobRow, row.job_id) if row.job_id else None
    if job is not None and not JobState(job.state).is_terminal():
        jobs.cancel(session, who, job.id)
    audit.record(session, who, "notebook.delete", "notebook", row.id, org_id=row.org_id)
    session.delete(row)


def _own(session: Session, who: Principal, ref: str, project: str | None) -> NotebookRow:
    """The caller's notebook by id or name; anyone else's is NotFound, the same as none."""
    missing = NotFound("notebook {ref} not found", ref=ref)
    if ref.startswith("nbk_"):
        row = session.get(NotebookRow, ref)
        if row is None or row.user_id != who.user_id:
            raise missing
        return row
    query = select(NotebookRow).where(NotebookRow.user_id == who.user_id, NotebookRow.name == ref)
    if project is not None:
        query = query.where(
            NotebookRow.project_id == tenancy.resolve_project(session, who, project).id
        )
    found = list(session.scalars(query))
    if len(found) > 1:
        raise Invalid("notebook {ref} is in several of your projects; name the project", ref=ref)
    if not found:
        raise missing
    return found[0]


def _start(
    session: Session,
    who: Principal,
    row: NotebookRow,
    engines: Mapping[str, Executor],
    limits: jobs.SubmitLimits,
) -> None:
    if not can_write(who, org_id=row.org_id, project_id=row.project_id):
        raise Forbidden("viewers cannot start notebooks")
    if not any(engine.gives_homes for engine in engines.values()):
        raise Conflict(
            "this center's executors cannot give a notebook its persistent home; notebooks "
            "run on local nodes (docs/notebooks.md)"
        )
    names = row.datasets
    if names is None:  # every data set of the project that has a version
        sets = data.list_datasets(session, who, project=row.project_id)
        names = [s.name for s in sets if s.latest is not None]
    image = image_of(row)
    spec = JobSpec.model_validate(
        {
            "name": f"notebook-{row.name}",
            "project": row.project_id,
            "kind": JobKind.NOTEBOOK.value,
            "command": COMMAND,
            "resources": resources_of(row),
            "datasets": names,
            "labels": {"aicc.io/notebook": row.name},
            **({"image": image} if image is not None else {}),
        }
    )
    job, _ = jobs.submit(session, who, spec, idempotency_key=None, limits=limits)
    row.job_id, row.culled_at, row.cull_message = job.id, None, ""
    row.updated_at = utcnow()


def image_of(row: NotebookRow) -> str | None:
    """The image the notebook runs in, as its owner named it (None: the node's own Python)."""
    found = (row.resources or {}).get(IMAGE_KEY)
    return str(found) if found else None


def resources_of(row: NotebookRow) -> dict[str, Any]:
    """What its jobs ask for, as a job spec's `resources` (without the kept image)."""
    return {k: v for k, v in (row.resources or {}).items() if k != IMAGE_KEY}


def _view(session: Session, row: NotebookRow) -> Notebook:
    job = session.get(JobRow, row.job_id) if row.job_id else None
    prj = directory.project(session, row.project_id)
    user = tenancy.user_names(session, [row.user_id]).get(row.user_id, row.user_id)
    state: NotebookState = "stopped"
    reason, message = "", ""
    if job is not None:
        reason, message = job.reason, job.message
        js = JobState(job.state)
        if js is JobState.RUNNING:
            state = "running"
        elif js in STARTING:
            state = "starting"
        elif job.reason == Reason.IDLE_CULLED:
            state = "culled"
        elif js is JobState.FAILED:
            state = "failed"
    return from_row(
        Notebook,
        row,
        project=prj.name if prj else row.project_id,
        user=user,
        resources=resources_of(row),
        datasets=list(row.datasets) if row.datasets is not None else None,
        image=image_of(row),
        state=state,
        reason=reason,
        message=message,
        url=f"/notebooks/{row.job_id}/lab" if state == "running" else None,
        started_at=job.started_at if job else None,
        ended_at=job.ended_at if job else None,
    )


# --- the proxy ---


def upstream(session: Session, sealer: Sealer, who: Principal, job_id: str) -> Upstream:
    """Where to forward the owner's requests to their running notebook job. Anyone else, a job
    that is not a notebook, or one not listening now: NotFound."""
    job = session.get(JobRow, job_id)
    if job is None or job.kind != JobKind.NOTEBOOK.value or job.user_id != who.user_id:
        raise NotFound("notebook {job_id} not found", job_id=job_id)
    if job.state != JobState.RUNNING.value:
        raise NotFound("notebook {job_id} is not running ({state})", job_id=job_id, state=job.state)
    live = [e for e in endpoints.of_job(session, job_id) if e.running]
    if not live:
        raise NotFound("notebook {job_id} is not running ({state})", job_id=job_id, state=job.state)
    secret = token(sealer, job_id, job.attempt)
    return Upstream(job_id, live[0].url, secret, live[0].socket, live[0].headers)


# --- idle culling (loops/culling.py) ---


def watched(session: Session, sealer: Sealer) -> list[Watched]:
    """The notebooks whose jobs run now, with what the culler needs to ask them."""
    query = (
        select(NotebookRow, JobRow)
        .join(JobRow, JobRow.id == NotebookRow.job_id)
        .where(JobRow.state == JobState.RUNNING.value, JobRow.cancel_requested.is_(False))
    )
    found = []
    for row, job in session.execute(query):
        live = [e for e in endpoints.of_job(session, job.id) if e.running]
        if not live or job.started_at is None:
            continue
        found.append(
            Watched(
                notebook_id=row.id,
                job_id=job.id,
                url=live[0].url,
                socket=live[0].socket,
                headers=live[0].headers,
                token=token(sealer, job.id, job.attempt),
                idle_timeout_s=row.idle_timeout_s,
                started_at=job.started_at,
                devices=_devices(session, job),
            )
        )
    return found


def _devices(session: Session, job: JobRow) -> tuple[tuple[str, int], ...]:
    """(node id, device index) of each device its current attempt's replicas hold."""
    reps = session.scalars(
        select(ReplicaRow).where(ReplicaRow.job_id == job.id, ReplicaRow.attempt == job.attempt)
    )
    return tuple((rep.node_id, device["index"]) for rep in reps for device in rep.devices)


def cull(session: Session, job_id: str, idle_s: float, now: datetime) -> bool:
    """Stop an idle notebook's job: the reconciler sends SIGTERM and the job ends `cancelled`
    with reason `idle_culled` (`stop_reason`). False when it no longer runs."""
    row = session.scalar(select(NotebookRow).where(NotebookRow.job_id == job_id))
    job = session.get(JobRow, job_id)
    if row is None or job is None or job.state != JobState.RUNNING.value or job.cancel_requested:
        return False
    minutes = round(idle_s / 60, 1)
    row.culled_at, row.updated_at = now, now
    row.cull_message = (
        f"stopped after {minutes} min idle (idle_timeout {row.idle_timeout_s} s); "
        "start it again to go on with the same files"
    )
    job.cancel_requested = True
    job.message = row.cull_message
    return True


def stop_reason(session: Session, job: JobRow) -> tuple[str, str] | None:
    """Why a stopped notebook job ended, when the culler stopped it: (reason, message)."""
    if job.kind != JobKind.NOTEBOOK.value:
        return None
    row = session.scalar(select(NotebookRow).where(NotebookRow.job_id == job.id))
    if row is None or row.culled_at is None:
        return None
    return Reason.IDLE_CULLED.value, row.cull_message
