"""Leases through the API (issue 40, docs/operations.md): a lease keeps its nodes for its holder
across a flood of another tenant's jobs, its holder sees it as a queue of its own (what runs on
it, what waits), another organization gets a 404, and a device lease picks whole devices of a
pool on the fewest nodes. One server for the module."""

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
from aicc.testing.tenants import make_tenant

GPU = {"accelerator": {"model": "A100-80GB", "count": 1}}


def _node(name: str, pool: str, count: int, model: str = "A100-80GB") -> dict[str, Any]:
    devices = [{"model": model, "count": count, "simulated": True}]
    return {"name": name, "cpu": 4, "memory": "8GiB", "pool": pool, "devices": devices}


INVENTORY = {
    "nodes": [
        *(_node(f"lz-{i}", "lease", 1) for i in range(1, 5)),
        _node("dv-1", "dev", 4, "H100"),
        _node("dv-2", "dev", 2, "H100"),
        _node("ln-1", "lend", 1, "L40S"),
    ]
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState]]:
    home = tmp_path_factory.mktemp("leases") / "home"
    with in_process(home, limits={"grace_s": 1.0}) as pair:
        answer = pair[0].post("/api/v1/nodes/import", json=INVENTORY)
        assert answer.status_code == 200, answer.text
        yield pair


@pytest.fixture(scope="module")
def api(served: tuple[TestClient, AppState]) -> TestClient:
    return served[0]


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _lease(api: TestClient, **body: Any) -> dict[str, Any]:
    answer = api.post("/api/v1/leases", json={"from": _at(-1), "to": _at(86400 * 30), **body})
    assert answer.status_code == 201, answer.text
    lease: dict[str, Any] = answer.json()
    return lease


def _nodes_of(api: TestClient, job_id: str) -> set[str]:
    return {r["node"] for r in api.get(f"/api/v1/jobs/{job_id}").json()["replicas"]}


def test_a_lease_keeps_its_nodes_for_its_holder_across_a_flood(api: TestClient) -> None:
    a = make_tenant(api, "lessee-a", role="org_admin")
    b = make_tenant(api, "crowd-b")
    lease = _lease(api, org="lessee-a", nodes=["lz-1", "lz-2"], tier=99.5, plan="dedicated")
    assert lease["nodes"] == ["lz-1", "lz-2"] and lease["state"] == "active"
    assert (lease["tier"], lease["plan"], lease["org"]) == (99.5, "dedicated", "lessee-a")
    spec = {"command": "sleep 30", "resources": GPU}
    flood = [submit(api, spec, **b.headers) for _ in range(30)]
    try:

        def two_running() -> list[dict[str, Any]] | None:
            states = {j["id"]: api.get(f"/api/v1/jobs/{j['id']}").json()["state"] for j in flood}
            found = [j for j in flood if states[j["id"]] == "running"]
            return found[:2] if len(found) >= 2 else None  # bound is not yet running

        running = wait("two of B's jobs running", two_running, timeout=60)
        mine = submit(api, {"command": "sleep 30", "resources": GPU}, **a.headers)
        assert wait_state(api, mine["id"], {"running"})["state"] == "running"
        assert _nodes_of(api, mine["id"]) <= {"lz-1", "lz-2"}
        placed = set().union(*(_nodes_of(api, j["id"]) for j in flood))
        assert placed and placed <= {"lz-3", "lz-4"}, placed  # never on the leased nodes
        assert len(running) == 2
        # the holder sees its lease as a queue of its own
        seen = api.get(f"/api/v1/leases/{lease['id']}", headers=a.headers).json()
        assert seen["use"] == {"in_use": 1, "lent": 0, "idle": 1}
        assert [j["id"] for j in seen["running"]] == [mine["id"]]
        listed = api.get("/api/v1/leases", headers=a.headers).json()["items"]
        assert [x["id"] for x in listed] == [lease["id"]]
        # another organization: not found, and not listed
        assert api.get(f"/api/v1/leases/{lease['id']}", headers=b.headers).status_code == 404
        assert api.get("/api/v1/leases", headers=b.headers).json()["items"] == []
        assert api.post(f"/api/v1/leases/{lease['id']}/end", headers=a.headers).status_code == 403
        inbox = api.get("/api/v1/notify/inbox", headers=a.headers).json()["items"]
        assert "lease.started" in {item["kind"] for item in inbox}
    finally:
        for job in [*flood, mine]:
            api.post(f"/api/v1/jobs/{job['id']}/cancel")
    ended = api.post(f"/api/v1/leases/{lease['id']}/end")
    assert ended.status_code == 200 and ended.json()["state"] == "ended"
    assert ended.json()["ended_at"] is not None


def test_bad_leases_say_what_to_fix(api: TestClient) -> None:
    make_tenant(api, "lessee-c")
    unknown = {"org": "lessee-c", "nodes": ["lz-9"], "from": _at(0), "to": _at(60)}
    answer = api.post("/api/v1/leases", json=unknown)
    assert answer.status_code == 422 and "lz-9" in answer.json()["detail"]
    backwards = {"org": "lessee-c", "nodes": ["lz-3"], "from": _at(60), "to": _at(0)}
    answer = api.post("/api/v1/leases", json=backwards)
    assert answer.status_code == 422 and "to must be after from" in answer.json()["detail"]
    nobody = {"org": "no-such-org", "nodes": ["lz-3"], "from": _at(0), "to": _at(60)}
    answer = api.post("/api/v1/leases", json=nobody)
    assert answer.status_code == 422 and "no-such-org" in answer.json()["detail"]
    both = {"org": "lessee-c", "nodes": ["lz-3"], "pool": "dev", "devices": 1}
    answer = api.post("/api/v1/leases", json={**both, "from": _at(0), "to": _at(60)})
    assert answer.status_code == 422 and "--nodes" in answer.json()["detail"]
    first = _lease(api, org="lessee-c", nodes=["lz-3"])
    again = api.post("/api/v1/leases", json={**unknown, "nodes": ["lz-3"]})
    assert again.status_code == 409 and "lz-3" in again.json()["detail"]
    api.post(f"/api/v1/leases/{first['id']}/end")


def test_a_device_lease_takes_whole_devices_on_the_fewest_nodes(api: TestClient) -> None:
    make_tenant(api, "lessee-d")
    lease = _lease(api, org="lessee-d", pool="dev", devices=3)
    assert {d["node"] for d in lease["devices"]} == {"dv-1"}  # the node with the most free
    assert len(lease["devices"]) == 3
    too_many = {"org": "lessee-d", "pool": "dev", "devices": 4, "from": _at(0), "to": _at(60)}
    answer = api.post("/api/v1/leases", json=too_many)
    assert answer.status_code == 409 and "3 devices free" in answer.json()["detail"]
    api.post(f"/api/v1/leases/{lease['id']}/end")


def test_a_lending_lease_runs_others_preemptible_work_until_its_holder_needs_it(
    api: TestClient,
) -> None:
    a = make_tenant(api, "lender-a")
    b = make_tenant(api, "borrower-b")
    lease = _lease(api, org="lender-a", nodes=["ln-1"], lend=True)
    l40s = {"accelerator": {"model": "L40S", "count": 1}}
    normal = submit(api, {"command": "sleep 30", "resources": l40s}, **b.headers)
    low = {"command": "sleep 30", "resources": l40s, "priority": "low", "max_retries": 1}
    borrowed = submit(api, low, **b.headers)
    mine: dict[str, Any] = {}
    try:
        assert wait_state(api, borrowed["id"], {"running"})["state"] == "running"
        assert api.get(f"/api/v1/jobs/{normal['id']}").json()["state"] in ("pending", "admitted")
        seen = api.get(f"/api/v1/leases/{lease['id']}", headers=a.headers).json()
        assert seen["use"] == {"in_use": 0, "lent": 1, "idle": 0}
        mine = submit(api, {"command": "sleep 30", "resources": l40s}, **a.headers)
        # the borrowed work yields at once: preempted, and the holder's job runs there
        wait_state(api, borrowed["id"], {"preempted", "pending", "admitted"}, timeout=20)
        assert wait_state(api, mine["id"], {"running"})["state"] == "running"
        assert _nodes_of(api, mine["id"]) == {"ln-1"}
    finally:
        for job in (normal, borrowed, mine):
            if job:
                api.post(f"/api/v1/jobs/{job['id']}/cancel")
        api.post(f"/api/v1/leases/{lease['id']}/end")
