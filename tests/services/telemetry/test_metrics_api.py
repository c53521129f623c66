"""`GET /metrics` scraped and parsed by prometheus_client's own parser, and the KPI routes, on a
live server after a real job."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import promql_parser
import pytest
import yaml
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
    "aicc_usage_accelerator_seconds",
    "aicc_usage_normalized_flop",
    "aicc_usage_cpu_seconds",
    "aicc_usage_energy_joules",
    "aicc_usage_carbon_grams",
    "aicc_gateway_requests",
    "aicc_gateway_tokens",
    "aicc_gateway_request_seconds",
    "aicc_gateway_tier_request_seconds",
    "aicc_gateway_tier_objective_seconds",
    "aicc_gateway_cold_start_seconds",
    "aicc_http_requests",
    "aicc_http_request_duration_seconds",
    "aicc_controller_step_seconds",
    "aicc_controller_pass_failures",
    "aicc_controller_leading",
    "aicc_nodes",
    "aicc_notifications",
}
ROOT = Path(__file__).resolve().parents[3]


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
        nodes = {s.labels["state"]: s.value for s in families["aicc_nodes"].samples}
        assert nodes["ready"] == 1 and nodes["down"] == nodes["quarantined"] == 0
        waits = {s.name: s.value for s in families["aicc_job_wait_seconds"].samples}
        assert waits["aicc_job_wait_seconds_count"] == 1 and waits["aicc_job_wait_seconds_sum"] >= 0
        (used,) = [
            s
            for s in families["aicc_usage_accelerator_seconds"].samples
            if s.name.endswith("_total")
        ]
        assert used.labels["project"] == "default" and 0.4 < used.value < 1.0  # half a GPU, 1 s
        (flop,) = families["aicc_usage_normalized_flop"].samples
        assert flop.value == pytest.approx(used.value * 312e12)  # A100's dense BF16 peak
        assert families["aicc_usage_energy_joules"].samples[0].value == 0  # simulated: no power
        (carbon,) = families["aicc_usage_carbon_grams"].samples
        assert carbon.name == "aicc_usage_carbon_grams_total" and carbon.value == 0
        assert carbon.labels == {"org": used.labels["org"], "project": "default"}

        # the control loop's and the HTTP layer's own figures, in base units
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families.values()
            for s in f.samples
        }
        assert samples[("aicc_controller_leading", ())] == 1
        cycles = samples[("aicc_controller_step_seconds_count", (("step", "schedule"),))]
        assert cycles >= 2  # the scheduler cycled, and its time is in seconds:
        assert 0 < samples[("aicc_controller_step_seconds_sum", (("step", "schedule"),))] < cycles
        submitted = (("method", "POST"), ("route", "/api/v1/jobs"), ("status", "201"))
        assert samples[("aicc_http_requests_total", submitted)] == 1
        job_route = (("method", "GET"), ("route", "/api/v1/jobs/{job_id}"), ("status", "200"))
        assert samples[("aicc_http_requests_total", job_route)] >= 1  # the template, not the id
        assert not any(job["id"] in str(key) for key in samples)

        user = api.post("/api/v1/users", json={"name": "watcher", "role": "member"}).json()
        token = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
        member = {"Authorization": f"Bearer {token['secret']}"}
        assert api.get("/metrics", headers=member).status_code == 403
        assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401

        rows = api.get("/api/v1/kpis/utilization", params={"by": "model"}).json()["items"]
        (row,) = rows
        assert row["simulated"] is True and row["busy_rate"] is None  # nothing measured
        assert "model" in row and "pool" not in row and "org" not in row  # its group alone
        assert row["allocated_device_hours"] > 0 and 0 < row["allocation_rate"] < 1
        assert api.get("/api/v1/kpis/idle").json()["items"] == []
        assert api.get("/api/v1/kpis/utilization", headers=member).status_code == 403


def _asked(expressions: list[str]) -> set[str]:
    """The AICC metrics some PromQL expressions read, each parsed (a typo fails here)."""
    for expression in expressions:
        promql_parser.parse(expression)
    return {
        re.sub(r"_(bucket|total|count|sum)$", "", name)
        for expression in expressions
        for name in re.findall(r"aicc_[a-z_]+", expression)
    }


def test_the_grafana_dashboard_asks_only_for_metrics_that_exist() -> None:
    board = json.loads((ROOT / "deploy/grafana/aicc-dashboard.json").read_text(encoding="utf-8"))
    asked = _asked([t["expr"] for panel in board["panels"] for t in panel["targets"]])
    assert asked and asked <= METRICS, asked - METRICS


def test_the_alert_rules_parse_and_ask_only_for_metrics_that_exist() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/aicc-alerts.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names)) >= 10
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    asked = _asked([rule["expr"] for rule in alerts])
    assert {
        "aicc_controller_leading",
        "aicc_controller_step_seconds",
        "aicc_http_requests",
    } <= asked
    assert asked <= METRICS, asked - METRICS
