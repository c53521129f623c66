"""Jobs through the API on a live server (SQLite and PostgreSQL): the outcomes a user sees."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient


def wait_state(api: TestClient, job_id: str, states: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job stayed {job['state']} ({job['message']})")


def submit(api: TestClient, spec: dict, **headers: str) -> dict:
    answer = api.post("/api/v1/jobs", json=spec, headers=headers)
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_a_job_runs_to_success_with_its_logs_and_timeline(api: TestClient) -> None:
    job = submit(api, {"command": "echo hello from $AICC_JOB_ID; echo oops >&2"})
    done = wait_state(api, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["exit_code"] == 0
    assert api.get(f"/api/v1/jobs/{job['id']}/logs").text.strip() == f"hello from {job['id']}"
    assert api.get(f"/api/v1/jobs/{job['id']}/logs?stream=stderr").text.strip() == "oops"
    states = [e["to_state"] for e in api.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]]
    assert states == ["pending", "admitted", "scheduled", "running", "succeeded"]


def test_a_failing_command_keeps_its_exit_code(api: TestClient) -> None:
    job = submit(api, {"command": ["python", "-c", "import sys; sys.exit(3)"]})
    done = wait_state(api, job["id"], {"succeeded", "failed"})
    assert (done["state"], done["reason"], done["exit_code"]) == ("failed", "exit_code", 3)
    assert "code 3" in done["message"]


def test_runtime_limit_ends_the_job(api: TestClient) -> None:
    job = submit(api, {"command": "sleep 60", "max_runtime": "1s"})
    done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=30)
    assert (done["state"], done["reason"]) == ("failed", "runtime_exceeded")


def test_memory_limit_kills_the_job(api: TestClient) -> None:
    hog = "import time\nx = []\nfor _ in range(100):\n    x.append(bytearray(20 * 2**20)); time.sleep(0.02)\n"
    job = submit(api, {"command": ["python", "-c", hog], "resources": {"memory": "100MiB"}})
    done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=30)
    assert (done["state"], done["reason"]) == ("failed", "oom_killed")


def test_cancel_stops_a_running_job(api: TestClient) -> None:
    job = submit(api, {"command": "echo started; sleep 60"})
    wait_state(api, job["id"], {"running"})
    assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    done = wait_state(api, job["id"], {"cancelled", "failed", "succeeded"}, timeout=30)
    assert (done["state"], done["reason"]) == ("cancelled", "cancelled_by_user")


def test_same_idempotency_key_gives_one_job(api: TestClient) -> None:
    spec = {"command": "true"}
    first = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/jobs", json=spec, headers={"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(api.get("/api/v1/jobs").json()["items"]) == 1


def test_malformed_spec_names_the_field(api: TestClient) -> None:
    answer = api.post("/api/v1/jobs", json={"command": "x", "resources": {"memory": "lots"}})
    assert answer.status_code == 422
    assert "memory" in answer.text and "4GiB" in answer.text
    missing = api.post("/api/v1/jobs", json={"resources": {"cpu": 1}})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"][-1] == "command"


def test_unfittable_spec_is_refused_with_the_reason(api: TestClient) -> None:
    answer = api.post("/api/v1/jobs", json={"command": "x", "resources": {"accelerator": {"count": 8}}})
    assert answer.status_code == 422
    assert "no node of this center can ever run this job" in answer.json()["detail"]
    assert api.get("/api/v1/jobs").json()["items"] == []
