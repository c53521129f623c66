"""Two `aicc serve` processes on one PostgreSQL: only the leader launches, so every job runs
exactly once whichever server accepted it; when the leader dies, the other takes over."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import TERMINAL, Servers, wait_for, wait_state

from aicc.testing import startup
from aicc.testing.postgres import PostgresServer
from aicc.testing.servers import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

MARK = {
    "command": 'echo "$AICC_JOB_ID" >> "$AICC_OUTPUT_DIR/ran"; echo ran',
    "resources": {"cpu": "100m", "memory": "128MiB"},
}


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    with Servers(tmp_path) as started:
        yield started


def leading(server: ServerProcess) -> bool:
    return bool(startup.get(server.url + "/healthz", timeout=5).json()["leader"])


def submit_all(apis: list[httpx.Client], count: int) -> list[str]:
    """`count` jobs, submitted in turn to each server."""
    ids = []
    for n in range(count):
        answer = apis[n % len(apis)].post("/api/v1/jobs", json={"name": f"mark-{n}", **MARK})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def ran_once_on(server: ServerProcess, api: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job succeeded with one replica, launched once, by `server`'s executor."""
    job = wait_state(api, job_id, TERMINAL, timeout=90)
    assert (job["state"], job["exit_code"]) == ("succeeded", 0), job
    assert [(r["attempt"], r["index"]) for r in job["replicas"]] == [(0, 0)], job["replicas"]
    marker = server.home / "runs" / job_id / "outputs" / "ran"
    assert marker.read_text() == f"{job_id}\n"
    return job


def test_two_servers_on_one_database_run_each_job_once_and_fail_over(
    servers: Servers, postgres: PostgresServer
) -> None:
    # at the newest revision (a TEMPLATE copy): neither server spends its start migrating
    url = postgres.create_database(f"e2e_two_servers_{os.getpid()}", migrated=True)
    pair = [servers.start("home-a", db=url), servers.start("home-b", db=url)]
    apis = [server.client() for server in pair]
    wait_for(lambda: sum(map(leading, pair)) == 1, 20, "exactly one server leading")
    leader, follower = pair if leading(pair[0]) else pair[::-1]
    lapi, fapi = apis[pair.index(leader)], apis[pair.index(follower)]

    first = submit_all(apis, 30)
    for job_id in first:
        ran_once_on(leader, fapi, job_id)  # the follower reports what the leader ran
        assert not (follower.home / "runs" / job_id).exists()
    assert [leading(leader), leading(follower)] == [True, False]
    assert lapi.get(f"/api/v1/jobs/{first[1]}/logs").text == "ran\n"

    # A job the leader launched is still running when the leader dies: the survivor, on the
    # same machine, follows its replica to the end and reads its logs (absolute run dirs).
    # The gate is in the job's outputs, the one place of this machine its sandbox shows.
    spec = {
        "command": 'while [ ! -e "$AICC_OUTPUT_DIR/gate" ]; do sleep 0.1; done; echo inflight-done'
    }
    inflight = lapi.post("/api/v1/jobs", json=spec).json()["id"]
    gate = leader.home / "runs" / inflight / "outputs" / "gate"
    wait_for(
        lambda: fapi.get(f"/api/v1/jobs/{inflight}").json()["state"] == "running",
        20,
        "the in-flight job running",
    )
    leader.kill9()
    killed = time.monotonic()
    wait_for(lambda: leading(follower), 20, "the survivor taking the lease", every=0.05)
    took = time.monotonic() - killed
    assert took < 15, f"the survivor led only after {took:.1f} s"

    gate.touch()
    wait_for(
        lambda: fapi.get(f"/api/v1/jobs/{inflight}").json()["state"] == "succeeded",
        30,
        "the in-flight job succeeding under the survivor",
    )
    assert fapi.get(f"/api/v1/jobs/{inflight}/logs").text == "inflight-done\n"
    assert len(fapi.get(f"/api/v1/jobs/{inflight}").json()["replicas"]) == 1

    later = submit_all([fapi], 6)
    for job_id in later:
        ran_once_on(follower, fapi, job_id)
        assert fapi.get(f"/api/v1/jobs/{job_id}/logs").text == "ran\n"
    # Taking over changed nothing that had ended: no job re-ran, none gained a replica.
    for job_id in first:
        job = fapi.get(f"/api/v1/jobs/{job_id}").json()
        assert (job["state"], len(job["replicas"])) == ("succeeded", 1), job
        assert not (follower.home / "runs" / job_id).exists()
    listed = fapi.get("/api/v1/jobs", params={"limit": 100}).json()["items"]
    assert sorted(j["id"] for j in listed) == sorted([*first, inflight, *later])
