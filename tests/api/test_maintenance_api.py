"""Maintenance windows through the API (issue 40, docs/operations.md): center admins announce
and cancel them, every tenant lists them; a job that would run into one waits with the window
named, a short one runs; at the start the nodes go to `maintenance` and what runs there is
evicted and requeued; at the end they come back. One server for the module."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

INVENTORY = {
    "nodes": [
        {
            "name": f"mw-{i}",
            "cpu": 4,
            "memory": "8GiB",
            "pool": "maint",
            "rack": f"r{i}",
            "devices": [{"model": model, "count": 1, "simulated": True}],
        }
        for i, model in ((1, "A100-80GB"), (2, "H100"))
    ]
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    home = tmp_path_factory.mktemp("maintenance") / "home"
    with in_process(home, limits={"grace_s": 1.0}) as pair:
        answer = pair[0].post("/api/v1/nodes/import", json=INVENTORY)
        assert answer.status_code == 200, answer.text
        yield pair


@pytest.fixture(scope="module")
def api(served: tuple[TestClient, AppState]) -> TestClient:
    return served[0]


@pytest.fixture(scope="module")
def tenant(api: TestClient) -> Tenant:
    return make_tenant(api, "maint-t", role="org_admin")


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _window(api: TestClient, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/maintenance", json=body)
    assert answer.status_code == 201, answer.text
    window: dict[str, Any] = answer.json()
    return window


def _node(api: TestClient, name: str) -> dict[str, Any]:
    node: dict[str, Any] = api.get(f"/api/v1/nodes/{name}").json()
    return node


def test_admins_announce_and_cancel_tenants_list_and_bad_input_says_what_to_fix(
    api: TestClient, tenant: Tenant
) -> None:
    window = _window(api, rack="r1", **{"from": _at(7200), "to": _at(10800)}, reason="PDU swap")
    assert window["nodes"] == ["mw-1"] and window["scope"] == "rack"
    assert window["state"] == "scheduled"
    listed = api.get("/api/v1/maintenance", headers=tenant.headers)
    assert listed.status_code == 200
    assert window["id"] in [w["id"] for w in listed.json()["items"]]  # tenants see it coming
    refused = api.post(
        "/api/v1/maintenance",
        json={"nodes": ["mw-1"], "from": _at(60), "to": _at(120), "reason": "x"},
        headers=tenant.headers,
    )
    assert refused.status_code == 403 and "center admins" in refused.json()["detail"]
    backwards = {"nodes": ["mw-1"], "from": _at(120), "to": _at(60), "reason": "x"}
    answer = api.post("/api/v1/maintenance", json=backwards)
    assert answer.status_code == 422 and "to must be after from" in answer.json()["detail"]
    unknown = {"nodes": ["mw-1", "nope-9"], "from": _at(60), "to": _at(120), "reason": "x"}
    answer = api.post("/api/v1/maintenance", json=unknown)
    assert answer.status_code == 422 and "nope-9" in answer.json()["detail"]
    both = {"nodes": ["mw-1"], "pool": "maint", "from": _at(60), "to": _at(120), "reason": "x"}
    answer = api.post("/api/v1/maintenance", json=both)
    assert answer.status_code == 422 and "exactly one" in answer.json()["detail"]
    assert (
        api.post(f"/api/v1/maintenance/{window['id']}/cancel", headers=tenant.headers).status_code
        == 403
    )
    cancelled = api.post(f"/api/v1/maintenance/{window['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert window["id"] not in [w["id"] for w in api.get("/api/v1/maintenance").json()["items"]]
    past = api.get("/api/v1/maintenance", params={"past": "true"}).json()["items"]
    assert window["id"] in [w["id"] for w in past]
    assert api.get("/api/v1/maintenance/mnt_nope").status_code == 404


def test_a_job_that_would_cross_the_window_waits_with_it_named_a_short_one_runs(
    api: TestClient, tenant: Tenant
) -> None:
    window = _window(
        api, nodes=["mw-1"], **{"from": _at(3600), "to": _at(7200)}, reason="firmware update"
    )
    try:
        a100 = {"accelerator": {"model": "A100-80GB", "count": 1}}
        spec = {"command": "true", "resources": a100}
        long = submit(api, {**spec, "max_runtime": "2h"}, **tenant.headers)
        short = submit(api, {**spec, "max_runtime": "10m"}, **tenant.headers)
        assert wait_state(api, short["id"], {"succeeded", "failed"})["state"] == "succeeded"
        assert api.get(f"/api/v1/jobs/{long['id']}").json()["state"] in ("pending", "admitted")
        why = api.get(f"/api/v1/jobs/{long['id']}/explain", headers=tenant.headers).json()
        first = why["reasons"][0]
        assert first["code"] == "maintenance", why
        assert "mw-1" in first["message"] and "firmware update" in first["message"]
        assert "node maintenance from" in first["message"]
    finally:
        api.post(f"/api/v1/maintenance/{window['id']}/cancel")
    # the window called off, the long job runs
    assert wait_state(api, long["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_at_the_start_work_is_evicted_and_requeued_and_at_the_end_the_node_is_back(
    api: TestClient, tenant: Tenant
) -> None:
    h100 = {"accelerator": {"model": "H100", "count": 1}}
    spec = {"command": "sleep 60", "resources": h100, "max_retries": 1}
    job = submit(api, spec, **tenant.headers)
    wait_state(api, job["id"], {"running"})
    window = _window(api, nodes=["mw-2"], **{"from": _at(1.5), "to": _at(4)}, reason="re-cabling")
    assert _node(api, "mw-2")["state"] == "ready"
    node = wait(
        "mw-2 in maintenance",
        lambda: (n := _node(api, "mw-2"))["state"] == "maintenance" and n,
        timeout=15,
    )
    assert "re-cabling" in node["state_reason"]
    evicted = wait(
        "the job evicted",
        lambda: (j := api.get(f"/api/v1/jobs/{job['id']}").json())["state"] != "running" and j,
        timeout=15,
    )
    assert evicted["state"] in ("preempted", "pending", "admitted"), evicted
    events = api.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    assert any("maintenance" in (e.get("message") or "") for e in events), events
    wait("mw-2 ready again", lambda: _node(api, "mw-2")["state"] == "ready", timeout=15)
    ended = api.get(f"/api/v1/maintenance/{window['id']}").json()
    assert ended["state"] == "ended"
    inbox = api.get("/api/v1/notify/inbox", headers=tenant.headers).json()["items"]
    kinds = {item["kind"] for item in inbox}
    assert {"maintenance.started", "maintenance.ended"} <= kinds, kinds
    # requeued, it runs again on the node given back
    wait_state(api, job["id"], {"running", "succeeded"}, timeout=30)
    api.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_a_window_cancelled_while_it_goes_on_leaves_no_node_stuck(api: TestClient) -> None:
    window = _window(api, nodes=["mw-1"], **{"from": _at(1), "to": _at(3600)}, reason="swap")
    wait("mw-1 in maintenance", lambda: _node(api, "mw-1")["state"] == "maintenance", timeout=15)
    cancelled = api.post(f"/api/v1/maintenance/{window['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    node = _node(api, "mw-1")
    assert (node["state"], node["state_reason"]) == ("ready", "")
