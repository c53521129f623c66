"""Jobs through the API on a live server (SQLite and PostgreSQL): the outcomes a user sees.
What the replica does (its exit code, limits, logs, outputs, environment) and what the API
refuses before anything is stored run on SQLite alone (`sqlite_only`): the database adds
nothing there that the lifecycle's, the idempotency keys' and the secrets' tests on both do not
show."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.nodes import nodes
from aicc.store.tables.nodes import NodeRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.tenants import Tenant

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_a_job_runs_to_success_with_its_logs_and_timeline(api: TestClient) -> None:
    job = submit(api, {"command": "echo hello from $AICC_JOB_ID; echo oops >&2"})
    done = wait_state(api, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["exit_code"] == 0
    assert api.get(f"/api/v1/jobs/{job['id']}/logs").text.strip() == f"hello from {job['id']}"
    assert api.get(f"/api/v1/jobs/{job['id']}/logs?stream=stderr").text.strip() == "oops"
    states = [e["to_state"] for e in api.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]]
    assert states == ["pending", "admitted", "scheduled", "running", "succeeded"]


@sqlite_only
def test_a_failing_command_keeps_its_exit_code(api: TestClient) -> None:
    job = submit(api, {"command": ["python", "-c", "import sys; sys.exit(3)"]})
    done = wait_state(api, job["id"], {"succeeded", "failed"})
    assert (done["state"], done["reason"], done["exit_code"]) == ("failed", "exit_code", 3)
    assert "code 3" in done["message"]


@sqlite_only
def test_runtime_limit_ends_the_job(api: TestClient) -> None:
    job = submit(api, {"command": "sleep 60", "max_runtime": "1s"})
    done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=30)
    assert (done["state"], done["reason"]) == ("failed", "runtime_exceeded")


@sqlite_only
def test_memory_limit_kills_the_job(api: TestClient) -> None:
    hog = (
        "import time\nx = []\n"
        "for _ in range(100):\n    x.append(bytearray(20 * 2**20)); time.sleep(0.02)\n"
    )
    job = submit(api, {"command": ["python", "-c", hog], "resources": {"memory": "100MiB"}})
    done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=30)
    assert (done["state"], done["reason"]) == ("failed", "oom_killed")


def test_cancel_stops_a_running_job(api: TestClient) -> None:
    job = submit(api, {"command": "echo started; sleep 60"})
    wait_state(api, job["id"], {"running"})
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    done = wait_state(api, job["id"], {"cancelled", "failed", "succeeded"}, timeout=30)
    assert (done["state"], done["reason"]) == ("cancelled", "cancelled_by_user")
    again = api.post(f"/api/v1/jobs/{job['id']}/cancel")  # a retry: harmless
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_cancelling_a_job_that_ended_says_so(api: TestClient) -> None:
    """Issue 58: a cancel of a job that already succeeded answered 200 as if it had worked."""
    job = submit(api, {"command": "true"})
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    answer = api.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == (
        f"job {job['id']} already ended (succeeded): there is nothing to cancel"
    )
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"


def test_same_idempotency_key_gives_one_job(api: TestClient) -> None:
    spec = {"command": "true"}
    first = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(api.get("/api/v1/jobs").json()["items"]) == 1


@sqlite_only
def test_malformed_spec_names_the_field(api: TestClient) -> None:
    answer = api.post("/api/v1/jobs", json={"command": "x", "resources": {"memory": "lots"}})
    assert answer.status_code == 422
    assert "memory" in answer.text and "4GiB" in answer.text
    missing = api.post("/api/v1/jobs", json={"resources": {"cpu": 1}})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"][-1] == "command"
    several = {"max_runtime": "2x", "replicas": "many", "resources": {"cpu": -1, "memory": "x"}}
    answer = api.post("/api/v1/jobs", json={"command": "x", **several})
    assert answer.status_code == 422  # every mistake in one answer, each where it is
    where = [detail["loc"][-1] for detail in answer.json()["detail"]]
    assert sorted(where) == ["cpu", "max_runtime", "memory", "replicas"]


@sqlite_only
def test_unfittable_spec_is_refused_with_the_reason(api: TestClient) -> None:
    answer = api.post(
        "/api/v1/jobs", json={"command": "x", "resources": {"accelerator": {"count": 8}}}
    )
    assert answer.status_code == 422
    assert "no node of this center can ever run this job" in answer.json()["detail"]
    assert api.get("/api/v1/jobs").json()["items"] == []


@sqlite_only
def test_follow_streams_the_log_until_the_job_ends(api: TestClient) -> None:
    job = submit(api, {"command": "for i in 1 2 3; do echo line $i; sleep 0.4; done"})
    with api.stream("GET", f"/api/v1/jobs/{job['id']}/logs?follow=true") as answer:
        text = "".join(answer.iter_text())
    assert text.split() == ["line", "1", "line", "2", "line", "3"]
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "succeeded"


def test_a_job_submitted_while_its_only_node_is_down_waits_for_it(
    server: tuple[TestClient, AppState],
) -> None:
    """The node lost (a Ray head restarting, a Slurm node down): a job that fits it is accepted
    and waits, then runs once the node is back; before, it was refused as one that no node could
    ever run, and a client does not send a refused job again."""
    api, state = server
    with state.db.session() as session:
        [node] = session.scalars(select(NodeRow)).all()
        nodes.mark_down(session, node, "lost in a test", at=utcnow())
    job = submit(api, {"command": "echo back"})
    time.sleep(1.0)  # a few passes of the loops: nowhere to run it
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] in ("pending", "admitted")
    state.controller.discover()  # the engine says the node is back
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"


@sqlite_only
def test_outputs_download_holds_what_the_job_wrote(api: TestClient) -> None:
    import io
    import tarfile

    job = submit(
        api, {"command": "mkdir -p $AICC_OUTPUT_DIR/sub && echo 42 > $AICC_OUTPUT_DIR/sub/x"}
    )
    wait_state(api, job["id"], {"succeeded"})
    answer = api.get(f"/api/v1/jobs/{job['id']}/outputs")
    assert answer.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as archive:
        member = archive.extractfile("sub/x")
        assert member is not None and member.read() == b"42\n"


def test_explain_says_why_a_job_waits(api: TestClient) -> None:
    api.post("/api/v1/queues", json={"name": "narrow", "max_running": 1})
    first = submit(api, {"command": "sleep 30", "queue": "narrow"})
    wait_state(api, first["id"], {"running"})
    second = submit(api, {"command": "true", "queue": "narrow"})
    time.sleep(0.5)
    why = api.get(f"/api/v1/jobs/{second['id']}/explain").json()
    assert why["state"] == "pending"
    assert why["reasons"][0]["code"] == "queue" and "at most 1" in why["reasons"][0]["message"]
    api.post(f"/api/v1/jobs/{first['id']}/cancel")
    wait_state(api, second["id"], {"succeeded"})


@sqlite_only
def test_secrets_reach_the_job_as_environment_but_never_the_api(api: TestClient) -> None:
    assert api.put("/api/v1/secrets/hf-token", json={"value": "s3cr3t-value"}).status_code == 200
    listed = api.get("/api/v1/secrets").text
    assert "hf-token" in listed and "s3cr3t-value" not in listed
    digest = (
        "import hashlib, os; print(hashlib.sha256(os.environ['HF_TOKEN'].encode()).hexdigest())"
    )
    job = submit(api, {"command": ["python", "-c", digest], "secrets": ["hf-token"]})
    done = wait_state(api, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    logged = api.get(f"/api/v1/jobs/{job['id']}/logs").text.strip()
    assert logged == hashlib.sha256(b"s3cr3t-value").hexdigest()
    for path in ("", "/events"):
        assert "s3cr3t-value" not in api.get(f"/api/v1/jobs/{job['id']}{path}").text
    unknown = api.post("/api/v1/jobs", json={"command": "true", "secrets": ["nope"]})
    assert unknown.status_code == 422 and "nope" in unknown.text


def test_a_secret_replaced_after_a_job_ran_stays_masked_in_its_logs(server) -> None:  # type: ignore[no-untyped-def]
    """The job printed the value it was given; replacing the secret afterwards must not unmask
    that value in the job's logs, and the value kept for masking is sealed in the database."""
    from sqlalchemy import select

    from aicc.store.tables.jobs import JobRow

    api, state = server
    assert api.put("/api/v1/secrets/db-password", json={"value": "first-pass-1234"}).is_success
    job = submit(api, {"command": "echo pw=$DB_PASSWORD", "secrets": ["db-password"]})
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    assert api.put("/api/v1/secrets/db-password", json={"value": "second-pass-5678"}).is_success
    logged = api.get(f"/api/v1/jobs/{job['id']}/logs").text
    assert "pw=" in logged and "first-pass-1234" not in logged
    with state.db.reader() as session:
        kept = session.scalar(select(JobRow.secrets_seen).where(JobRow.id == job["id"]))
    assert len(kept) == 1 and "first-pass" not in kept[0]
    assert state.sealer.open(kept[0]) == "first-pass-1234"


def test_pending_limit_per_user(tmp_path) -> None:
    from aicc.testing.servers import in_process

    with in_process(tmp_path / "h", limits={"max_pending_per_user": 2}) as (client, _state):
        client.post("/api/v1/queues", json={"name": "held", "max_running": 1})
        first = submit(client, {"command": "sleep 30", "queue": "held"})
        wait_state(client, first["id"], {"running"})  # the queue's one place: no longer waiting
        codes = [
            client.post("/api/v1/jobs", json={"command": "sleep 30", "queue": "held"}).status_code
            for _ in range(3)
        ]
        assert codes == [201, 201, 429]  # two may wait, the third may not
        # A template's run is a job too: the same limit, and nothing used or charged.
        run = client.post("/api/v1/templates/credit-risk/runs", json={"queue": "held"})
        assert run.status_code == 429, run.text


def test_a_key_reused_for_another_spec_is_refused(api: TestClient) -> None:
    api.post("/api/v1/jobs", json={"command": "true"}, headers={"Idempotency-Key": "k-2"})
    other = api.post("/api/v1/jobs", json={"command": "false"}, headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]


def test_secrets_are_sealed_in_the_database(server) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from aicc.store.tables.tenancy import SecretRow

    api, state = server
    api.put("/api/v1/secrets/db-password", json={"value": "hunter2-very-secret"})
    with state.db.reader() as session:
        stored = session.scalar(select(SecretRow.value).where(SecretRow.name == "db-password"))
    assert stored and "hunter2" not in stored
    assert state.sealer.open(stored) == "hunter2-very-secret"
    key = state.settings.home / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_an_upload_over_the_limit_is_refused_and_nothing_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from aicc.testing.servers import in_process

    with in_process(tmp_path / "h", limits={"max_upload_mib": 1}) as (client, state):
        big = os.urandom(2 * 1024 * 1024)
        answer = client.post(
            "/api/v1/workdirs", content=big, headers={"Content-Type": "application/gzip"}
        )
        assert answer.status_code == 413 and "limit" in answer.json()["detail"]
        assert state.blobs.total_bytes() == 0
        junk = client.post("/api/v1/workdirs", content=b"not a tarball")
        assert junk.status_code == 422 and "workdir" in junk.json()["detail"]


def test_a_deadline_after_submit_is_stored_as_a_time_and_a_past_one_refused(
    api: TestClient,
) -> None:
    before = utcnow()
    job = submit(
        api, {"command": "true", "deferrable": True, "max_runtime": "1h", "deadline": "1d"}
    )
    spec = api.get(f"/api/v1/jobs/{job['id']}").json()["spec"]
    assert spec["deferrable"] is True and spec["deadline_after_s"] is None
    deadline = datetime.fromisoformat(spec["deadline"])
    assert before + timedelta(days=1) <= deadline <= utcnow() + timedelta(days=1)
    past = {"command": "true", "deadline": "2020-01-01T00:00:00Z"}
    answer = api.post("/api/v1/jobs", json=past)
    assert answer.status_code == 422 and "deadline" in answer.text and "passed" in answer.text
    soon = (utcnow() + timedelta(hours=1)).isoformat()
    answer = api.post(
        "/api/v1/jobs", json={"command": "true", "max_runtime": "2h", "deadline": soon}
    )
    assert answer.status_code == 422 and "max_runtime" in answer.text


@sqlite_only
def test_a_job_runs_again_from_its_spec_in_its_project(api: TestClient, tenant_b: Tenant) -> None:
    """`POST /jobs/{id}/resubmit`: the same spec, in the job's own project, as a new job; a key
    makes a retry the same job; another tenant's job is a 404; a service's replica job is its
    deployment's to start (422)."""
    spec = {"command": "echo again from $AICC_JOB_ID", "name": "twice", "env": {"X": "1"}}
    first = submit(api, spec)
    wait_state(api, first["id"], {"succeeded"})
    answer = api.post(f"/api/v1/jobs/{first['id']}/resubmit", headers={"Idempotency-Key": "k1"})
    assert answer.status_code == 201, answer.text
    second = answer.json()
    assert second["id"] != first["id"] and second["name"] == "twice"
    assert second["project_id"] == first["project_id"] and second["spec"]["env"] == {"X": "1"}
    done = wait_state(api, second["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    assert api.get(f"/api/v1/jobs/{second['id']}/logs").text.strip() == f"again from {second['id']}"
    retried = api.post(f"/api/v1/jobs/{first['id']}/resubmit", headers={"Idempotency-Key": "k1"})
    assert (retried.status_code, retried.json()["id"]) == (200, second["id"])
    theirs = api.post(f"/api/v1/jobs/{first['id']}/resubmit", headers=tenant_b.headers)
    assert theirs.status_code == 404, theirs.text
    service = submit(api, {"command": "sleep 30", "kind": "service"})
    refused = api.post(f"/api/v1/jobs/{service['id']}/resubmit")
    assert refused.status_code == 422 and "restart that instead" in refused.text
    api.post(f"/api/v1/jobs/{service['id']}/cancel")
