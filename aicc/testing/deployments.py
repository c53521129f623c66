"""A deployment for the gateway's tests and benchmark, until the deployments service lands:
real `kind: service` jobs submitted through the API, each running `upstream.py`, linked to a
`DeploymentRow` by `DeploymentReplicaRow`, and marked ready (`ReplicaRow.ready_at`) once the
replica answers `/health`. Only the deployments' control loop is missing; this writes the rows
it would write."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import httpx
from sqlalchemy import select

from aicc.services import endpoints
from aicc.services.common import new_id, utcnow
from aicc.store.db import Database
from aicc.store.tables import DeploymentReplicaRow, DeploymentRow, JobRow, ReplicaRow
from aicc.testing import upstream
from aicc.testing.polling import wait


class _Api(Protocol):
    def post(self, url: str, **kwargs: Any) -> httpx.Response: ...


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    project_id: str
    jobs: list[str]


def deploy(
    api: _Api,
    db: Database,
    name: str,
    *,
    replicas: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    project: str | None = None,
    timeout: float = 90,
) -> Deployment:
    """A deployment `name` with one upstream job per item of `replicas` (its environment:
    `UPSTREAM_DELAY_S`, `UPSTREAM_DIE_AFTER`...), every replica ready when this returns."""
    envs = replicas if replicas is not None else [{}]
    jobs = []
    for env in envs:
        spec: dict[str, Any] = {
            "kind": "service",
            "command": upstream.command(),
            "env": env,
            "resources": {"cpu_milli": 100, "memory_mib": 128},  # many fit on a test machine
        }
        if project:
            spec["project"] = project
        made = api.post("/api/v1/jobs", json=spec, headers=headers or {})
        assert made.status_code == 201, made.text
        jobs.append(made.json())
    now = utcnow()
    with db.session() as session:
        row = DeploymentRow(
            id=new_id("dep"),
            project_id=jobs[0]["project_id"],
            name=name,
            spec={},
            revision=1,
            min_replicas=len(jobs),
            max_replicas=len(jobs),
            desired=len(jobs),
            state="pending",
            created_by=jobs[0]["user"],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        for job in jobs:
            session.add(
                DeploymentReplicaRow(
                    job_id=job["id"], deployment_id=row.id, revision=1, created_at=now
                )
            )
        deployment = Deployment(row.id, name, row.project_id, [j["id"] for j in jobs])
    for job_id in deployment.jobs:
        wait(f"replica {job_id} to answer", partial(_ready, db, job_id), timeout=timeout)
    with db.session() as session:
        dep = session.get(DeploymentRow, deployment.id)
        assert dep is not None
        dep.state = "ready"
    return deployment


def _ready(db: Database, job_id: str) -> bool:
    with db.reader() as session:
        found = endpoints.of_job(session, job_id)
    if not found or not found[0].running:
        return False
    try:
        if httpx.get(found[0].url + "/health", timeout=2).status_code != 200:
            return False
    except httpx.HTTPError:
        return False
    with db.session() as session:
        job = session.get(JobRow, job_id)
        assert job is not None
        for replica in session.scalars(
            select(ReplicaRow).where(ReplicaRow.job_id == job_id, ReplicaRow.attempt == job.attempt)
        ):
            replica.ready_at = utcnow()
    return True
