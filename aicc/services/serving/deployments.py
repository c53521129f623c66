"""Deployments (docs/contracts.md §9, docs/deployments.md): a registered model version, or any
command listening on `$PORT`, kept running as `desired` replicas, each a `kind: service` job.

A deployment keeps every revision's replica spec (`DeploymentRevisionRow`): an update makes
the next revision, a rollback makes a new revision from the one before. The use cases here
change only what is wanted and return `views.Deployment`; the control loop
(`loops/deployments.py`, through `converge.py`) makes it so: it starts replica jobs, probes them,
rolls updates, drains and replaces replicas. What a revision's replicas run is
`replica_spec.py`'s; a deployment is found and a change audited by `access.py`; its state is
written only by `lifecycle.move` (core/states.py says who follows whom) and a replica job is
stopped only by `lifecycle.end_replica`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aicc.config import RegistrySettings, Settings
from aicc.core import autoscaling as autoscale
from aicc.core.jobspec import NAME_PATTERN
from aicc.core.states import DEPLOYMENT_INITIAL, DeploymentState
from aicc.core.tenancy import Principal, can_write
from aicc.services import changes
from aicc.services.common import Conflict, Forbidden, Invalid, from_row, new_id, utcnow
from aicc.services.data import datasets
from aicc.services.jobs import census, jobs
from aicc.services.serving import access, lifecycle, replica_spec
from aicc.services.serving.views import Deployment, DeploymentReplica, DeploymentRevision
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.blobs import BlobStore
from aicc.store.tables.serving import (
    DeploymentAdapterRow,
    DeploymentReplicaRow,
    DeploymentRevisionRow,
    DeploymentRow,
)

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


# --- reading ---


def _replicas(session: Session, row: DeploymentRow) -> list[DeploymentReplica]:
    links = {
        link.job_id: link
        for link in session.scalars(
            select(DeploymentReplicaRow).where(DeploymentReplicaRow.deployment_id == row.id)
        )
    }
    urls = {e.job_id: e for e in lifecycle.endpoints_of(session, row.id)}
    states = census.states(session, links)
    out = []
    for job_id, link in sorted(links.items(), key=lambda kv: (kv[1].created_at, kv[0])):
        found = urls.get(job_id)
        out.append(
            DeploymentReplica(
                job_id=job_id,
                revision=link.revision,
                state=states.get(job_id, "gone"),
                ready=bool(found and found.ready),
                draining=link.draining_at is not None,
                url=found.url if found and found.socket is None else None,
                reached_via=None if found is None else "tcp" if found.socket is None else "socket",
            )
        )
    return out


def _view(session: Session, row: DeploymentRow) -> Deployment:
    settings = access.current(session, row).settings
    prj = directory.project(session, row.project_id)
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


def get(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    return _view(session, access.find(session, who, name, project))


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
    row = access.find(session, who, name, project)
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
    prj = found
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
    spec, stored, model_id, version = replica_spec.build(
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
    access.written(session, who, row, "deployment.create")
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
        lifecycle.move(row, DeploymentState.UPDATING)
        row.message = f"rolling to revision {row.revision}"
    _add_revision(session, who, row, stored, now)
    access.written(session, who, row, action)


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
    row = access.writable(session, who, name, project)
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise Invalid("{field}: not a setting of a deployment", field=unknown[0])
    settings = {**access.current(session, row).settings, **changes}
    if changes.get("model") is not None:
        settings["command"], settings["workdir_sha256"] = None, None
    elif changes.get("command") is not None:
        settings["model"] = None
    prj = directory.project(session, row.project_id)
    assert prj is not None
    kept = None if changes.get("image") is not None else row.spec.get("image")
    spec, stored, model_id, version = replica_spec.build(
        session, who, blobs, prj, row.name, settings, policy.registry, kept
    )
    if spec != row.spec or stored != access.current(session, row).settings:
        _new_revision(session, who, row, spec, stored, (model_id, version), "deployment.update")
    return _view(session, row)


def rollback(
    session: Session, who: Principal, name: str, *, project: str | None = None
) -> Deployment:
    """A new revision with the spec of the revision before the current one."""
    row = access.writable(session, who, name, project)
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
    row = access.writable(session, who, name, project)
    if target_concurrency is not None:
        row.target_concurrency = target_concurrency
    low = row.min_replicas if min_replicas is None else min_replicas
    high = row.max_replicas if max_replicas is None else max_replicas
    _check_sizes(low, high, policy.max_replicas)
    row.min_replicas, row.max_replicas, row.updated_at = low, high, utcnow()
    if row.state != DeploymentState.STOPPED:
        row.desired = _desired(row)
    access.written(session, who, row, "deployment.scale")
    return _view(session, row)


def stop(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    """No replicas (their jobs end; metering stops), state `stopped`, until `start`."""
    row = access.writable(session, who, name, project)
    lifecycle.move(row, DeploymentState.STOPPED)
    row.message, row.desired, row.updated_at = "", 0, utcnow()
    access.written(session, who, row, "deployment.stop")
    return _view(session, row)


def start(session: Session, who: Principal, name: str, *, project: str | None = None) -> Deployment:
    row = access.writable(session, who, name, project)
    if row.state in (DeploymentState.STOPPED, DeploymentState.FAILED):
        lifecycle.move(row, DeploymentState.PENDING)
        row.message = "starting replicas"
        row.failures, row.retry_at, row.updated_at = 0, None, utcnow()
        row.desired = _desired(row)
        access.written(session, who, row, "deployment.start")
    return _view(session, row)


def delete_deployment(
    session: Session, who: Principal, name: str, *, project: str | None = None
) -> None:
    """Cancel its replica jobs and forget the deployment and its revisions."""
    row = access.writable(session, who, name, project)
    links = (
        select(DeploymentReplicaRow.job_id)
        .where(DeploymentReplicaRow.deployment_id == row.id)
        .order_by(DeploymentReplicaRow.created_at, DeploymentReplicaRow.job_id)
    )
    for job_id in session.scalars(links).all():
        lifecycle.end_replica(session, job_id, f"deployment {row.name} deleted")
    session.execute(
        delete(DeploymentReplicaRow).where(DeploymentReplicaRow.deployment_id == row.id)
    )
    session.execute(
        delete(DeploymentRevisionRow).where(DeploymentRevisionRow.deployment_id == row.id)
    )
    session.execute(
        delete(DeploymentAdapterRow).where(DeploymentAdapterRow.deployment_id == row.id)
    )
    prj = directory.project(session, row.project_id)
    assert prj is not None
    audit.record(session, who, "deployment.delete", "deployment", row.id, org_id=prj.org_id)
    session.delete(row)
    session.flush()
    changes.changed(session)
