"""Registering a model from any job's outputs (not only a template's): what a user's own
training job wrote becomes a version with its metrics and lineage; a job that did not succeed,
or a path that leaves the outputs, is refused and registers nothing."""

from __future__ import annotations

from fastapi.testclient import TestClient

from aicc.testing.datasets import push
from aicc.testing.jobs import submit, wait_state
from aicc.testing.tenants import Tenant

TRAIN = (
    'mkdir -p "$AICC_OUTPUT_DIR/model" && ls "$AICC_DATA_DIR/digits" > "$AICC_OUTPUT_DIR/seen.txt"'
    ' && printf weights > "$AICC_OUTPUT_DIR/model/w.bin"'
    ' && printf \'{"accuracy": 0.97, "loss": 0.1, "note": "x"}\''
    ' > "$AICC_OUTPUT_DIR/model/metrics.json"'
)


def test_a_jobs_outputs_become_a_model_version(api: TestClient, tenant_b: Tenant) -> None:
    push(api, "digits", {"train.csv": b"x,y\n1,2\n"})
    job = submit(api, {"command": TRAIN, "datasets": ["digits"]})
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"

    made = api.post(
        "/api/v1/models/digits-net/versions",
        json={"job_id": job["id"], "path": "model", "format": "raw", "framework": "numpy"},
    )
    assert made.status_code == 201, made.text
    version = made.json()
    assert version["ref"] == "digits-net@1" and version["stage"] == "staging"
    assert version["metrics"] == {"accuracy": 0.97, "loss": 0.1}  # numbers only
    assert {f["path"] for f in version["files"]} == {"w.bin", "metrics.json"}
    assert version["lineage"]["job_id"] == job["id"]
    assert version["lineage"]["datasets"] == ["digits@1"]
    trained = api.get("/api/v1/datasets/digits/versions/1/models").json()
    assert [v["ref"] for v in trained] == ["digits-net@1"]

    # Refused, and nothing registered: a path out of the outputs, a missing folder, a job
    # that failed, another tenant's job.
    for body, status in (
        ({"job_id": job["id"], "path": "../etc"}, 422),
        ({"job_id": job["id"], "path": "nope"}, 404),
    ):
        answer = api.post("/api/v1/models/digits-net/versions", json=body)
        assert answer.status_code == status, answer.text
    failed = submit(api, {"command": "exit 3"})
    wait_state(api, failed["id"], {"failed"})
    refused = api.post("/api/v1/models/digits-net/versions", json={"job_id": failed["id"]})
    assert refused.status_code == 409 and "succeeded" in refused.json()["detail"]
    stolen = api.post(
        "/api/v1/models/mine/versions", json={"job_id": job["id"]}, headers=tenant_b.headers
    )
    assert stolen.status_code == 404
    assert api.get("/api/v1/models/digits-net").json()["latest"] == 1
