"""A job's training curves through the API, from real jobs on the local executor: one logging
with `aicc.log_metrics`, one writing `metrics.jsonl` itself; while they run and after."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.testing.jobs import submit, wait_state
from aicc.testing.tenants import Tenant

# The curves are read from the job's outputs, not the database: SQLite alone (another tenant's
# 404 on PostgreSQL is the route walk's, tests/api/test_authorization.py).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Logs three steps (and a diverged value the helper leaves out), waits for a gate file in its
# outputs, then logs a fourth.
SDK_JOB = """
import os, pathlib, time, aicc
for i in range(3):
    aicc.log_metrics(step=i, loss=1.0 / (i + 1), accuracy=0.5 + 0.1 * i)
aicc.log_metrics(loss=float("nan"))
gate = pathlib.Path(os.environ["AICC_OUTPUT_DIR"], "release")
while not gate.exists():
    time.sleep(0.1)
aicc.log_metrics(step=3, loss=0.2)
"""


def metrics_of(api: TestClient, job_id: str, **params: Any) -> dict[str, Any]:
    answer = api.get(f"/api/v1/jobs/{job_id}/metrics", params=params)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def poll_until(api: TestClient, job_id: str, points: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = metrics_of(api, job_id)
        if found["points"] >= points:
            return found
        if not found["running"]:
            log = api.get(f"/api/v1/jobs/{job_id}/logs", params={"stream": "stderr"}).text
            raise AssertionError(f"the job ended with {found}: {log}")
        assert time.monotonic() < deadline, f"only {found} after {timeout}s"
        time.sleep(0.2)


@sqlite_only
def test_curves_logged_with_the_sdk_show_while_the_job_runs_and_after(
    api: TestClient, tmp_path: Path
) -> None:
    job = submit(api, {"command": ["python", "-c", SDK_JOB]})
    live = poll_until(api, job["id"], 6)
    assert live["running"] is True and live["last_step"] == 2
    assert live["metrics"]["loss"] == [[0, 1.0], [1, 0.5], [2, 1 / 3]]
    assert [v for _, v in live["metrics"]["accuracy"]] == [0.5, 0.6, 0.7]
    assert metrics_of(api, job["id"], since=2)["metrics"] == {}  # nothing new yet

    (tmp_path / "home" / "runs" / job["id"] / "outputs" / "release").touch()
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    after = metrics_of(api, job["id"])
    assert after["running"] is False and after["last_step"] == 3
    assert after["metrics"]["loss"][-1] == [3, 0.2]
    assert metrics_of(api, job["id"], since=2)["metrics"] == {"loss": [[3, 0.2]]}
    assert metrics_of(api, job["id"], tail=1)["metrics"] == {
        "accuracy": [[2, 0.7]],
        "loss": [[3, 0.2]],
    }


# What a job may write by hand: good lines among bad ones, and a last line cut short.
HAND_WRITTEN = r"""
printf '%s\n' \
  '{"step": 0, "loss": 2.5, "time_s": 0.1}' \
  'not json' \
  '[1, 2]' \
  '{"step": 1, "loss": NaN}' \
  '{"step": 2, "loss": Infinity, "lr": 0.01}' \
  '{"step": "x", "loss": 9}' \
  '{"step": 3, "loss": 1.5, "note": "ok", "flag": true}' \
  '{"loss": 1.0}' > "$AICC_OUTPUT_DIR/metrics.jsonl"
printf '{"step": 9, "loss": 0.' >> "$AICC_OUTPUT_DIR/metrics.jsonl"
"""


@sqlite_only
def test_a_hand_written_file_is_read_forgivingly(api: TestClient) -> None:
    job = submit(api, {"command": HAND_WRITTEN})
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    found = metrics_of(api, job["id"])
    assert found["metrics"] == {"loss": [[0, 2.5], [3, 1.5], [4, 1.0]], "lr": [[2, 0.01]]}
    assert (found["last_step"], found["points"], found["thinned"]) == (4, 4, False)


@sqlite_only
def test_a_long_run_is_thinned_evenly_keeping_first_and_last(api: TestClient) -> None:
    write = (
        "import json, os\n"
        "with open(os.path.join(os.environ['AICC_OUTPUT_DIR'], 'metrics.jsonl'), 'w') as f:\n"
        "    for i in range(5000):\n"
        "        f.write(json.dumps({'step': i, 'loss': 1 / (i + 1)}) + '\\n')\n"
    )
    job = submit(api, {"command": ["python", "-c", write]})
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
    found = metrics_of(api, job["id"], max_points=100)
    loss = found["metrics"]["loss"]
    assert (len(loss), loss[0][0], loss[-1][0]) == (100, 0, 4999)
    assert (found["points"], found["thinned"]) == (5000, True)
    gaps = {b[0] - a[0] for a, b in itertools.pairwise(loss)}
    assert gaps <= {50, 51}  # even: no stretch of the run is left out
    for name, value in (("max_points", 1), ("tail", 1001)):
        refused = api.get(f"/api/v1/jobs/{job['id']}/metrics", params={name: value})
        assert refused.status_code == 422 and name in refused.text


@sqlite_only
def test_no_curves_yet_is_empty_and_another_tenants_job_is_not_found(
    api: TestClient, tenant_b: Tenant
) -> None:
    job = submit(api, {"command": "true"})
    assert wait_state(api, job["id"], {"succeeded"})
    empty = metrics_of(api, job["id"])
    assert (empty["metrics"], empty["last_step"], empty["running"]) == ({}, None, False)
    theirs = api.get(f"/api/v1/jobs/{job['id']}/metrics", headers=tenant_b.headers)
    assert theirs.status_code == 404
    assert api.get("/api/v1/jobs/job_nope/metrics").status_code == 404
