"""Budgets on a live server: a project's next job waits with reason `budget` once what its
budget has left cannot pay for the job's declared runtime, the threshold alert is written once,
and raising the budget lets the job start."""

from __future__ import annotations

import time
from pathlib import Path

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process


def test_a_budget_exhausted_project_waits_with_reason_budget(tmp_path: Path) -> None:
    settings = {"simulated_devices": [{"model": "A100-80GB", "count": 1}]}
    with in_process(tmp_path / "home", **settings) as (api, _state):
        me = api.get("/api/v1/me").json()
        org, project = me["org"]["id"], me["projects"][0]["id"]
        plan = {
            "org_id": org,
            "effective_from": "2020-01-01T00:00:00Z",
            "accelerator_hour": {"A100-80GB": "3600"},  # one yuan per device-second
        }
        assert api.post("/api/v1/price-plans", json=plan).status_code == 201
        budget = {"limit": "4.00", "thresholds": [0.4, 1.0]}
        assert api.put(f"/api/v1/projects/{project}/budget", json=budget).status_code == 200

        def job(runtime: str, command: str = "sleep 2") -> str:
            spec = {
                "command": command,
                "resources": {"cpu": 1, "memory": "256MiB", "accelerator": {"count": 1}},
                "max_runtime": runtime,
            }
            return str(submit(api, spec)["id"])

        first = job("3s")  # up to 3.00 of the 4.00: admitted
        assert wait_state(api, first, {"succeeded", "failed"})["state"] == "succeeded"
        deadline = time.monotonic() + 20
        while True:  # the meter records its ~2 s: about 2.00 spent, over 40% of it
            (row,) = api.get("/api/v1/budgets").json()["items"]
            if row["alerted"]:
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.1)
        # `sleep 2` and its start, metered: at least its 2 s, at most its declared 3 s (a loaded
        # machine starts a process slowly: the upper bound is the runtime cap, not a timing)
        assert 1.9 < float(row["spent"]) <= 3.0 and row["alerted"] == [0.4]
        alerts = api.get("/api/v1/audit", params={"action": "budget.alert"}).json()["items"]
        assert len(alerts) == 1 and alerts[0]["detail"]["threshold"] == 0.4

        second = job("5s", "true")  # up to 5.00, more than is left
        deadline = time.monotonic() + 20
        while True:
            why = api.get(f"/api/v1/jobs/{second}/explain").json()
            if why["reasons"] and why["reasons"][0]["code"] == "budget":
                break
            assert time.monotonic() < deadline, why
            time.sleep(0.1)
        assert "5.00" in why["reasons"][0]["message"]
        time.sleep(1.0)  # several scheduling passes: it stays pending, never bound
        held = api.get(f"/api/v1/jobs/{second}").json()
        assert held["state"] == "pending" and "budget" in held["message"]

        budget["limit"] = "100.00"
        assert api.put(f"/api/v1/projects/{project}/budget", json=budget).status_code == 200
        assert wait_state(api, second, {"succeeded", "failed"})["state"] == "succeeded"
