"""Helpers for tests and benchmarks that drive jobs through the API (any httpx client)."""

from __future__ import annotations

import io
import tarfile
import time
from datetime import datetime
from typing import Any

import httpx


def submit(client: httpx.Client, spec: dict[str, Any], **headers: str) -> dict[str, Any]:
    answer = client.post("/api/v1/jobs", json=spec, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    job: dict[str, Any] = answer.json()
    return job


def wait_state(
    client: httpx.Client, job_id: str, states: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Poll until the job is in one of `states`; fail with its last state and message."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job['state']} ({job['message']})")
        time.sleep(0.1)


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A workdir archive of these files (name -> content), as the SDK would upload it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run_job(
    client: httpx.Client, spec: dict[str, Any], timeout: float = 120
) -> tuple[dict[str, Any], str]:
    """Submit `spec`, wait for it to end; the job and what it printed on stdout."""
    job = wait_state(client, submit(client, spec)["id"], {"succeeded", "failed"}, timeout)
    log = client.get(f"/api/v1/jobs/{job['id']}/logs", params={"stream": "stdout"})
    return job, log.text


def finish_as(
    db: Any,
    job_id: str,
    *,
    submitted: datetime,
    runs: list[tuple[datetime, datetime]],
    state: str = "succeeded",
) -> None:
    """Make a job the store holds (submitted with the loops stopped) look as if it had been
    submitted at `submitted` and finished in `state` after its attempts ran `runs` (one replica
    each, on the store's first node): the history a slowdown, a prediction or a report reads."""
    from sqlalchemy import select

    from aicc.services.common import new_id
    from aicc.store.tables.jobs import JobRow, ReplicaRow
    from aicc.store.tables.nodes import NodeRow

    with db.session() as session:
        job = session.get(JobRow, job_id)
        node = session.scalars(select(NodeRow).limit(1)).one()
        job.state, job.reason, job.created_at = state, state, submitted
        job.started_at, job.ended_at = (runs[0][0], runs[-1][1]) if runs else (None, submitted)
        job.attempt = max(0, len(runs) - 1)
        for attempt, (start, end) in enumerate(runs):
            session.add(
                ReplicaRow(
                    id=new_id("rep"),
                    job_id=job_id,
                    attempt=attempt,
                    index=0,
                    node_id=node.id,
                    cpu_milli=1000,
                    memory_mib=256,
                    state="exited",
                    bound_at=start,
                    started_at=start,
                    ended_at=end,
                )
            )
