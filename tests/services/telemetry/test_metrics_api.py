"""`GET /metrics` scraped and parsed by prometheus_client's own parser, and the KPI routes, on a
live server after a real job."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

METRICS = {
    "aicc_accelerators",
    "aicc_accelerators_allocated",
    "aicc_accelerator_busy_ratio",
    "aicc_jobs",
    "aicc_queue_depth",
    "aicc_job_wait_seconds",
    "aicc_usage_accelerator_hours",
    "aicc_usage_pflops_hours",
    "aicc_usage_cpu_core_hours",
    "aicc_usage_energy_kwh",
}


def test_metrics_are_prometheus_text_for_operators_only(tmp_path: Path) -> None:
    settings = {"simulated_devices": [{"model": "A100-80GB", "count": 2}]}
    with in_process(tmp_path / "home", **settings) as (api, _state):
        spec = {"command": "sleep 1", "resources": {"accelerator": {"milli": 500}}}
        job = submit(api, spec)
        assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        deadline = time.monotonic() + 20
        while not api.get("/api/v1/usage", params={"job": job["id"]}).json()["items"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)

        answer = api.get("/metrics")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        assert set(families) >= METRICS - {"aicc_accelerator_busy_ratio"}  # none measured
        (capacity,) = families["aicc_accelerators"].samples
        assert capacity.labels["model"] == "A100-80GB" and capacity.labels["simulated"] == "true"
        assert capacity.value == 2
        waits = {s.name: s.value for s in families["aicc_job_wait_seconds"].samples}
        assert waits["aicc_job_wait_seconds_count"] == 1 and waits["aicc_job_wait_seconds_sum"] >= 0
        (used,) = [
            s for s in families["aicc_usage_accelerator_hours"].samples if s.name.endswith("_total")
        ]
        assert used.labels["project"] == "default" and 0.4 / 3600 < used.value < 1.0 / 3600
        assert families["aicc_usage_energy_kwh"].samples[0].value == 0  # simulated: no power

        user = api.post("/api/v1/users", json={"name": "watcher", "role": "member"}).json()
        token = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
        member = {"Authorization": f"Bearer {token['secret']}"}
        assert api.get("/metrics", headers=member).status_code == 403
        assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401

        rows = api.get("/api/v1/kpis/utilization", params={"by": "model"}).json()["items"]
        (row,) = rows
        assert row["simulated"] is True and row["busy_rate"] is None  # nothing measured
        assert row["allocated_device_hours"] > 0 and 0 < row["allocation_rate"] < 1
        assert api.get("/api/v1/kpis/idle").json()["items"] == []
        assert api.get("/api/v1/kpis/utilization", headers=member).status_code == 403


def test_the_grafana_dashboard_asks_only_for_metrics_that_exist() -> None:
    root = Path(__file__).resolve().parents[3]
    board = json.loads((root / "deploy/grafana/aicc-dashboard.json").read_text(encoding="utf-8"))
    asked = {
        re.sub(r"_(bucket|total|count|sum)$", "", name)
        for panel in board["panels"]
        for target in panel["targets"]
        for name in re.findall(r"aicc_[a-z_]+", target["expr"])
    }
    assert asked and asked <= METRICS, asked - METRICS
