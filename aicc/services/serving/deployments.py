"""Deployments (docs/contracts.md §9, docs/deployments.md): a registered model version, or any
command listening on `$PORT`, kept running as `desired` replicas, each a `kind: service` job.

A deployment keeps every revision's replica spec (`DeploymentRevisionRow`): an update makes
the next revision, a rollback makes a new revision from the one before. The use cases here
change only what is wanted and return `views.Deployment`; the control loop
(`loops/deployments.py`, through `converge.py`) makes it so: it starts replica jobs, probes them,
rolls updates, drains and replaces replicas. A deployment's state is written only by `move`
(core/states.py says who follows whom); a replica job is stopped only by `end_replica`.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, object_session

from aicc.config import RegistrySettings, Settings
from aicc.core import autoscaling as autoscale
from aicc.core import datasets as core
from aicc.core.jobspec import NAME_PATTERN, JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.states import (
    DEPLOYMENT_INITIAL,
    WAITING,
    DeploymentState,
    JobState,
    Reason,
    deployment_transition,
)
from aicc.core.tenancy import Principal, can_read, can_write
from aicc.services import changes
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    from_row,
    new_id,
    utcnow,
)
from aicc.services.data import datasets
from aicc.services.data.datasets import MODEL
from aicc.services.images import images
from aicc.services.jobs import endpoints, jobs, workdirs
from aicc.services.jobs.transitions import change_state, hold, note
from aicc.services.notify import events
from aicc.services.serving.views import Deployment, DeploymentReplica, DeploymentRevision
from aicc.services.tenancy import audit, tenancy
from aicc.store.blobs import BlobStore
from aicc.store.tables import (
    DeploymentAdapterRow,
    DeploymentReplicaRow,
    DeploymentRevisionRow,
    DeploymentRow,
    JobRow,
    ProjectRow,
    ReplicaRow,
)

STATES = tuple(state.value for state in DeploymentState)  # core/states.py: who follows whom
ENGINES = ("auto", "transformers", "predict", "vllm")
LABEL = "aicc.io/deployment"
ADAPTER_UPLOADS = ".adapters"  # in the replica's working directory, its own
# What an update may change; each makes a new revision.
SETTINGS = (
    "model",
    "command",
    "workdir_sha256",
    "image",
    "resources",
    "env",
    "engine",
    "readiness_path",
)


@dataclass(frozen=True)
class Policy:
    """How the control loop keeps deployments (`deployments:` in docs/config.md)."""

    max_replicas: int = 16
    probe_interval_s: float = 2.0
    probe_timeout_s: float = 1.0
    unready_after: int = 3
    dead_after: int = 10
    start_timeout_s: float = 900.0
    drain_s: float = 5.0
    failures_to_fail: int = 5
    backoff_s: float = 2.0
    target_concurrency: float = 2.0
    stable_window_s: float = 60.0
    panic_window_s: float = 6.0
    scale_down_delay_s: float = 30.0
    scale_to_zero_after_s: float = 300.0
    cold_start_timeout_s: float = 300.0
    # the center registry a revision's `image` is resolved in (and `external`), as a job's
    registry: RegistrySettings | None = None

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The policy of a server's settings: `deployments:` and the center registry (the
        API's and the control loop's alike, so a replica's image resolves as its revision's)."""
        return cls(
            **settings.deployments.model_dump(), registry=jobs.SubmitLimits.of(settings).registry
        )

    def autoscaling(self) -> autoscale.Policy:
        """The autoscaler's defaults (a deployment's bounds and target replace them)."""
        return autoscale.Policy(
            target=self.target_concurrency,
            stable_window_s=self.stable_window_s,
            panic_window_s=self.panic_window_s,
            scale_down_delay_s=self.scale_down_delay_s,
            scale_to_zero_after_s=self.scale_to_zero_after_s,
        )


def serving_program() -> bytes:
    """`aicc/serving` (whatever files it holds) as a deterministic .tar.gz working directory
    under an empty `aicc` package: a model's replica runs `python -m aicc.serving` from it,
    needing nothing else of AICC (as services/jobs/cleaning.py ships `aicc/cleaning`)."""
    found = importlib.util.find_spec("aicc.serving")
    if found is None or not found.submodule_search_locations:
        raise Conflict("this server has no model serving (aicc.serving); deploy a command instead")
    root = Path(next(iter(found.submodule_search_locations)))
    files = [("aicc/__init__.py", b"")]
    files += [
        (f"aicc/serving/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    return workdirs.pack(files)


# --- reading ---


def _replicas(session: Session, row: DeploymentRow) -> list[DeploymentReplica]:
    links = {
        link.job_id: link
        for link in session.scalars(
            select(DeploymentReplicaRow).where(DeploymentReplicaRow.deployment_id == row.id)
        )
    }
    urls = {e.job_id: e for e in endpoints_of(session, row.id)}
    out = []
    for job_id, link in sorted(links.items(), key=lambda kv: (kv[1].created_at, kv[0])):
        job = session.get(JobRow, job_id)
        found = urls.get(job_id)
        out.append(
            DeploymentReplica(
                job_id=job_id,
                revision=link.revision,
                state=job.state if job else "gone",
                ready=bool(found and found.ready),
                draining=link.draining_at is not None,
                url=found.url if found and found.socket is None else None,
                reached_via=None if found is None else "tcp" if found.socket is None else "socket",
            )
        )
    return out


def _current(session: Session, row: DeploymentRow) -> DeploymentRevisionRow:
    found = session.get(DeploymentRevisionRow, (row.id, row.revision))
    assert found is not None  # every revision is kept
    return found


def _view(session: Session, row: DeploymentRow) -> Deployment:
    settings = _current(session, row).settings
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    return from_row(
        Deployment,
        row,
        project=datasets.qualified(session, prj),
        model=settings.get("model"),
        command=settings.get("command"),
        workdir_sha256=settings.get("workdir_sha256"),
        image=row.spec.get("image"),
        engine=settings.get("engine", "auto"),
        resources=copy.deepcopy(settings.get("resources") or {}),
        env=dict(settings.get("env") or {}),
        readiness_path=settings.get("readiness_path", "/health"),
        replicas=_replicas(session, row),
    )


def _find(session: Session, who: Principal, name: str, project: str | None) -> DeploymentRow:
    """The deployment `name` (or its id) the caller may read; another tenant's: NotFound."""
    missing = NotFound("deployment {name} not found; `aicc deploy list` shows yours", name=name)
    if name.startswith("dep_"):
        row = session.get(DeploymentRow, name)
    else:
        try:
            prj = tenancy.resolve_project(session, who, project)
        except NotFound:
            raise missing from None
        row = session.scalar(
            select(DeploymentRow).where(
                DeploymentRow.project_id == prj.id, DeploymentRow.name == name
            )
        )
    if row is None:
        raise missing
    prj_row = session.get(ProjectRow, row.project_id)
    if prj_row is None or not can_read(who, org_id=prj_row.org_id, project_id=row.project_id):
        raise missing
    return row


def _writable(session: Session, who: Principal, name: str, project: str | None) -> DeploymentRow:
    row = _find(session, who, name, project)
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    if not can_write(who, org_id=prj.org_id, project_id=row.project_id):
        raise Forbidden("viewers cannot change deployments")
    return row


def _written(session: Session, who: Principal, row: DeploymentRow, action: str) -> None:
    """Audit `action` on the deployment in its organization, flush, and wake the loops that
    converge it: how every change of a deployment but its deletion ends."""
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    audit.record(session, who, action, "deployment", row.id, org_id=prj.org_id)
    session.flush()
    changes.changed(session)


def get(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    return _view(session, _find(session, who, name, project))


def list_deployments(
    session: Session, who: Principal, *, project: str | None = None
) -> list[Deployment]:
    """A project's deployments (the caller's default project), by name."""
    prj = tenancy.resolve_project(session, who, project)
    rows = session.scalars(
        select(DeploymentRow).where(DeploymentRow.project_id == prj.id).order_by(DeploymentRow.name)
    )
    return [_view(session, row) for row in rows]


def revisions(
    session: Session, who: Principal, name: str, *, project: str | None = None
) -> list[DeploymentRevision]:
    """Every revision of the deployment, newest first."""
    row = _find(session, who, name, project)
    found = session.scalars(
        select(DeploymentRevisionRow)
        .where(DeploymentRevisionRow.deployment_id == row.id)
        .order_by(DeploymentRevisionRow.revision.desc())
    )
    return [
        DeploymentRevision(
            revision=r.revision,
            model=r.settings.get("model"),
            command=r.settings.get("command"),
            image=r.spec.get("image"),
            engine=r.settings.get("engine", "auto"),
            created_by=r.created_by,
            created_at=r.created_at,
        )
        for r in found
    ]


# --- changing ---


def _check_sizes(min_replicas: int, max_replicas: int, cap: int) -> None:
    if min_replicas < 0:
        raise Invalid("min_replicas: 0 or more")
    if max_replicas < 1:
        raise Invalid("max_replicas: at least 1 (stop a deployment to run none)")
    if min_replicas > max_replicas:
        raise Invalid(
            "min_replicas: {min} is above max_replicas ({max})", min=min_replicas, max=max_replicas
        )
    if max_replicas > cap:
        raise Invalid("max_replicas: at most {cap} on this center", cap=cap)


def _desired(row: DeploymentRow) -> int:
    """What to run when (re)started or rescaled: the autoscaler's wish within the bounds, and at
    least one replica."""
    return max(1, min(max(row.desired, row.min_replicas), row.max_replicas))


def _checked(settings: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """A revision's engine, readiness path and environment, each as the replicas take it."""
    if (settings.get("model") is None) == (settings.get("command") is None):
        raise Invalid("model: give a model (NAME@N) or a command, not both")
    engine = settings.get("engine") or "auto"
    if engine not in ENGINES:
        raise Invalid("engine {engine!r}: one of auto, transformers, predict, vllm", engine=engine)
    path = settings.get("readiness_path") or "/health"
    if not path.startswith("/") or any(c.isspace() for c in path):
        raise Invalid("readiness_path: a path on the replica, such as /health")
    env = dict(settings.get("env") or {})
    reserved = sorted(k for k in env if k in ("PORT", "AICC_MODEL_DIR", "AICC_SERVICE_HOST"))
    if reserved:
        raise Invalid("env: {name} is set by AICC for each replica", name=reserved[0])
    return engine, path, env


def _build(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    prj: ProjectRow,
    name: str,
    settings: dict[str, Any],
    registry: RegistrySettings | None = None,
    resolved: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], str | None, int | None]:
    """The replica jobs' spec from a revision's settings, checked as a submit would check it:
    (spec, the settings as stored, the model's id and version number). An `image` is resolved
    in the center `registry` now, so a revision names what its replicas pull (a 422 for one
    the caller may not pull); each replica's submit checks it again. `resolved`: what the
    current revision's image resolved to, kept by an update that does not change it."""
    model, command = settings.get("model"), settings.get("command")
    engine, path, env = _checked(settings)
    sha256 = settings.get("workdir_sha256")
    model_id = version_number = None
    mounts: list[str] = []
    if model is not None:
        row, version, where = _model_version(session, who, prj, str(model))
        model_id, version_number = row.id, version.number
        model = f"{datasets.qualified(session, where)}/{row.name}@{version.number}"
        mounts = [model]
        sha256 = workdirs.keep(session, who, blobs, serving_program())
        # --adapter-uploads: where the gateway hands it the adapters attached to the
        # deployment (services/serving/adapters.py), served where the engine can
        words = ["--name", name, "--adapter-uploads", ADAPTER_UPLOADS]
        words += ["--engine", engine] if engine != "auto" else []
        text = (
            f'export AICC_MODEL_DIR="$AICC_DATA_DIR/{row.name}"; exec python -m aicc.serving '
            '--model "$AICC_MODEL_DIR" --host "$AICC_SERVICE_HOST" --port "$PORT" '
            + shlex.join(words)
        )
    else:
        text = str(command)
        if not text.strip():
            raise Invalid("command: what the replica runs, listening on $PORT")
        if sha256 and not workdirs.uploaded(session, org_id=prj.org_id, sha256=sha256):
            raise Invalid(
                "workdir_sha256: no such upload in your organization; upload the workdir first"
            )
    spec: dict[str, Any] = {
        "name": name,
        "project": prj.id,
        "kind": "service",
        "command": text,
        "env": env,
        "resources": copy.deepcopy(settings.get("resources") or {}),
        "datasets": mounts,
        "labels": {LABEL: name},
    }
    if sha256:
        spec["workdir_sha256"] = sha256
    image = settings.get("image") or None
    if image is not None:
        spec["image"] = resolved or images.job_image(
            session, who, str(image), registry=registry, project=prj.id
        )
    try:
        checked = JobSpec.model_validate(spec)
    except ValidationError as err:
        raise Invalid(first_problem(err)) from None
    jobs.check_fits(session, checked)
    stored = {
        "model": model,
        "command": None if model is not None else text,
        "workdir_sha256": None if model is not None else sha256,
        **({"image": image} if image is not None else {}),  # older revisions have none
        "resources": copy.deepcopy(settings.get("resources") or {}),
        "env": env,
        "engine": engine,
        "readiness_path": path,
    }
    return spec, stored, model_id, version_number


def _model_version(
    session: Session, who: Principal, prj: ProjectRow, ref: str
) -> tuple[Any, Any, ProjectRow]:
    """The model version a reference names, read by the caller: in the deployment's project
    first, then among the models shared with the caller."""
    try:
        parsed = core.parse_ref(ref)
    except core.DatasetError as err:
        raise Invalid("model: {problem}", problem=str(err)) from None
    try:
        row, version = datasets.version_row(session, who, parsed, project=prj.id, kind=MODEL)
    except NotFound:
        if parsed.org is not None:
            raise
        row, version = datasets.version_row(session, who, parsed, kind=MODEL)
    where = session.get(ProjectRow, row.project_id)
    assert where is not None
    return row, version, where


def create(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    *,
    name: str,
    project: str | None = None,
    model: str | None = None,
    command: str | None = None,
    workdir_sha256: str | None = None,
    image: str | None = None,
    min_replicas: int = 1,
    max_replicas: int = 1,
    resources: dict[str, Any] | None = None,
    engine: str = "auto",
    env: dict[str, str] | None = None,
    readiness_path: str = "/health",
    target_concurrency: float | None = None,
    policy: Policy = Policy(),
) -> Deployment:
    """A deployment of a model version (`NAME@N`, `NAME` for the latest) or of a command, at
    revision 1; the control loop starts its replicas, the autoscaler keeps about
    `target_concurrency` requests in flight per replica between the bounds. `image`: what
    its replicas run in (`NAME:TAG` of the project in the center registry, as a job's)."""
    if not re.match(NAME_PATTERN, name or ""):
        raise Invalid("name {name!r}: lowercase letters, digits, '.', '_' or '-'", name=name)
    _check_sizes(min_replicas, max_replicas, policy.max_replicas)
    found = tenancy.resolve_project(session, who, project)
    if not can_write(who, org_id=found.org_id, project_id=found.id):
        raise Forbidden("viewers cannot change deployments")
    prj = session.get(ProjectRow, found.id)
    assert prj is not None
    taken = select(DeploymentRow.id).where(
        DeploymentRow.project_id == prj.id, DeploymentRow.name == name
    )
    if session.scalar(taken) is not None:
        raise Conflict("deployment {name} exists already in this project", name=name)
    settings = {
        "model": model,
        "command": command,
        "workdir_sha256": workdir_sha256,
        "image": image,
        "resources": resources or {},
        "env": env or {},
        "engine": engine,
        "readiness_path": readiness_path,
    }
    spec, stored, model_id, version = _build(
        session, who, blobs, prj, name, settings, policy.registry
    )
    now = utcnow()
    row = DeploymentRow(
        id=new_id("dep"),
        project_id=prj.id,
        name=name,
        model_id=model_id,
        model_version=version,
        spec=spec,
        revision=1,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_concurrency=target_concurrency,
        desired=max(1, min_replicas),
        state=DEPLOYMENT_INITIAL.value,
        message="starting replicas",
        created_by=who.user_id,
        created_at=now,
        updated_at=now,
        failures=0,
    )
    session.add(row)
    session.flush()
    _add_revision(session, who, row, stored, now)
    _written(session, who, row, "deployment.create")
    return _view(session, row)


def _add_revision(
    session: Session, who: Principal, row: DeploymentRow, stored: dict[str, Any], now: datetime
) -> None:
    session.add(
        DeploymentRevisionRow(
            deployment_id=row.id,
            revision=row.revision,
            spec=copy.deepcopy(row.spec),
            settings=stored,
            model_id=row.model_id,
            model_version=row.model_version,
            created_by=who.user_id,
            created_at=now,
        )
    )


def _new_revision(
    session: Session,
    who: Principal,
    row: DeploymentRow,
    spec: dict[str, Any],
    stored: dict[str, Any],
    model: tuple[str | None, int | None],
    action: str,
) -> None:
    now = utcnow()
    last = session.scalar(
        select(DeploymentRevisionRow.revision)
        .where(DeploymentRevisionRow.deployment_id == row.id)
        .order_by(DeploymentRevisionRow.revision.desc())
        .limit(1)
    )
    row.revision = (last or row.revision) + 1
    row.spec, (row.model_id, row.model_version) = spec, model
    row.failures, row.retry_at, row.updated_at = 0, None, now
    if row.state != DeploymentState.STOPPED:
        move(row, DeploymentState.UPDATING)
        row.message = f"rolling to revision {row.revision}"
    _add_revision(session, who, row, stored, now)
    _written(session, who, row, action)


def update(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    name: str,
    changes: dict[str, Any],
    *,
    project: str | None = None,
    policy: Policy = Policy(),
) -> Deployment:
    """A new revision with these settings changed (a new model version, resources, env,
    command, image...), rolled out one replica at a time. Settings equal to the current ones
    make no new revision; `image: ""` goes back to the node's own runtime."""
    row = _writable(session, who, name, project)
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise Invalid("{field}: not a setting of a deployment", field=unknown[0])
    settings = {**_current(session, row).settings, **changes}
    if changes.get("model") is not None:
        settings["command"], settings["workdir_sha256"] = None, None
    elif changes.get("command") is not None:
        settings["model"] = None
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    kept = None if changes.get("image") is not None else row.spec.get("image")
    spec, stored, model_id, version = _build(
        session, who, blobs, prj, row.name, settings, policy.registry, kept
    )
    if spec != row.spec or stored != _current(session, row).settings:
        _new_revision(session, who, row, spec, stored, (model_id, version), "deployment.update")
    return _view(session, row)


def rollback(
    session: Session, who: Principal, name: str, *, project: str | None = None
) -> Deployment:
    """A new revision with the spec of the revision before the current one."""
    row = _writable(session, who, name, project)
    before = session.scalar(
        select(DeploymentRevisionRow)
        .where(
            DeploymentRevisionRow.deployment_id == row.id,
            DeploymentRevisionRow.revision < row.revision,
        )
        .order_by(DeploymentRevisionRow.revision.desc())
        .limit(1)
    )
    if before is None:
        raise Conflict(
            "deployment {name} has no revision before {revision} to roll back to",
            name=row.name,
            revision=row.revision,
        )
    model = (before.model_id, before.model_version)
    spec, stored = copy.deepcopy(before.spec), copy.deepcopy(before.settings)
    _new_revision(session, who, row, spec, stored, model, "deployment.rollback")
    return _view(session, row)


def scale(
    session: Session,
    who: Principal,
    name: str,
    *,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
    target_concurrency: float | None = None,
    project: str | None = None,
    policy: Policy = Policy(),
) -> Deployment:
    """New bounds (and target per replica); the replicas wanted move into them."""
    row = _writable(session, who, name, project)
    if target_concurrency is not None:
        row.target_concurrency = target_concurrency
    low = row.min_replicas if min_replicas is None else min_replicas
    high = row.max_replicas if max_replicas is None else max_replicas
    _check_sizes(low, high, policy.max_replicas)
    row.min_replicas, row.max_replicas, row.updated_at = low, high, utcnow()
    if row.state != DeploymentState.STOPPED:
        row.desired = _desired(row)
    _written(session, who, row, "deployment.scale")
    return _view(session, row)


def stop(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    """No replicas (their jobs end; metering stops), state `stopped`, until `start`."""
    row = _writable(session, who, name, project)
    move(row, DeploymentState.STOPPED)
    row.message, row.desired, row.updated_at = "", 0, utcnow()
    _written(session, who, row, "deployment.stop")
    return _view(session, row)


def start(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    row = _writable(session, who, name, project)
    if row.state in (DeploymentState.STOPPED, DeploymentState.FAILED):
        move(row, DeploymentState.PENDING)
        row.message = "starting replicas"
        row.failures, row.retry_at, row.updated_at = 0, None, utcnow()
        row.desired = _desired(row)
        _written(session, who, row, "deployment.start")
    return _view(session, row)


def delete_deployment(
    session: Session, who: Principal, name: str, *, project: str | None = None
) -> None:
    """Cancel its replica jobs and forget the deployment and its revisions."""
    row = _writable(session, who, name, project)
    links = (
        select(DeploymentReplicaRow.job_id)
        .where(DeploymentReplicaRow.deployment_id == row.id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    for job_id in session.scalars(links).all():
        job = session.get(JobRow, job_id)
        if job is not None:
            end_replica(session, job, f"deployment {row.name} deleted")
    session.execute(
        delete(DeploymentReplicaRow).where(DeploymentReplicaRow.deployment_id == row.id)
    )
    session.execute(
        delete(DeploymentRevisionRow).where(DeploymentRevisionRow.deployment_id == row.id)
    )
    session.execute(
        delete(DeploymentAdapterRow).where(DeploymentAdapterRow.deployment_id == row.id)
    )
    prj = session.get(ProjectRow, row.project_id)
    assert prj is not None
    audit.record(session, who, "deployment.delete", "deployment", row.id, org_id=prj.org_id)
    session.delete(row)
    session.flush()
    changes.changed(session)


# --- the state writers, shared with the control loop (converge.py) ---


def end_replica(session: Session, job: JobRow, why: str) -> None:
    """Stop a replica job as a cancel does: a waiting one at once, a placed one through the
    reconciler (TERM, grace, KILL)."""
    hold(session, job)  # the scheduler may be binding it
    state = JobState(job.state)
    if state.is_terminal() or job.cancel_requested:
        return
    # why, in the job's history (its state's message ends as `cancelled`)
    note(session, job_id=job.id, kind="deployment", reason="deployment", message=why, at=utcnow())
    if state in WAITING:
        change_state(session, job, JobState.CANCELLED, reason=Reason.CANCELLED_BY_USER, message=why)
    else:
        job.cancel_requested, job.message = True, why
    for rep in session.scalars(select(ReplicaRow).where(ReplicaRow.job_id == job.id)):
        rep.ready_at = None


def move(row: DeploymentRow, to: DeploymentState) -> None:
    """The one writer of a deployment's state: a move core/states.py does not allow raises
    IllegalTransition (a bug here, never a user's error)."""
    was = row.state
    row.state = deployment_transition(DeploymentState(row.state), to).value
    session = object_session(row)
    if to is DeploymentState.FAILED and was != row.state and session is not None:
        _notify_down(session, row)


def _notify_down(session: Session, row: DeploymentRow) -> None:
    """`deployment.down`, once per move to failed (services/notify)."""
    org_id = session.scalar(select(ProjectRow.org_id).where(ProjectRow.id == row.project_id))
    if org_id is None:
        return
    events.emit(
        session,
        "deployment.down",
        org_id=org_id,
        project_id=row.project_id,
        subject="deployment {name} is down",
        body="Deployment {name} ({deployment_id}) failed: {message}.",
        params={
            "name": row.name,
            "deployment_id": row.id,
            "message": row.message or "its replicas failed",
        },
        data={"deployment_id": row.id, "deployment": row.name, "revision": row.revision},
        key=f"deployment.down:{row.id}:{utcnow().isoformat()}",
    )


def endpoints_of(session: Session, deployment_id: str) -> list[endpoints.Endpoint]:
    """The endpoints of a deployment's replica jobs (every revision, oldest job first): the
    gateway routes to those `ready`."""
    links = session.scalars(
        select(DeploymentReplicaRow)
        .where(DeploymentReplicaRow.deployment_id == deployment_id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    return [
        dataclasses.replace(endpoint, revision=link.revision)
        for link in links
        for endpoint in endpoints.of_job(session, link.job_id)
    ]
