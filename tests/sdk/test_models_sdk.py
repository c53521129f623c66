"""Model lineage through the SDK against a real server over HTTP: the versions trained on a
data set version come back typed (`client.models.trained_on`)."""

from __future__ import annotations

from pathlib import Path

import httpx

from aicc.sdk.client import Client
from aicc.testing.datasets import push
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http

TRAIN = 'mkdir -p "$AICC_OUTPUT_DIR/model" && printf w > "$AICC_OUTPUT_DIR/model/w.bin"'


def test_the_models_trained_on_a_data_set_version(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state), Client(url, token) as client:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
            push(api, "digits", {"train.csv": b"x,y\n1,2\n"})
            job = submit(api, {"command": TRAIN, "datasets": ["digits"]})
            assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
            body = {"job_id": job["id"], "path": "model", "format": "raw"}
            assert api.post("/api/v1/models/net/versions", json=body).status_code == 201
        assert [v.ref for v in client.models.trained_on("digits@1")] == ["net@1"]
        assert client.models.trained_on("digits@1")[0].lineage["job_id"] == job["id"]
