"""Nodes through the API: inventory import, simulated accelerators, sharing, MIG slices, cordon.
Placements, allocations, cordon and drain, and the pages by name run on SQLite and PostgreSQL;
what is refused by the device catalog or the fit check's view of the nodes runs on SQLite alone
(`sqlite_only`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait

# Refusals decided by the device catalog and the inventory's checks before anything is stored,
# or by the fit check over a plain list of the nodes: the database answers nothing there.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

INVENTORY = {
    "nodes": [
        {
            "name": "gpu-a",
            "cpu": 8,
            "memory": "64GiB",
            "pool": "train",
            "rack": "r1",
            "devices": [{"model": "A100-80GB", "count": 2, "simulated": True}],
        },
        {
            "name": "gpu-b",
            "cpu": 8,
            "memory": "64GiB",
            "pool": "train",
            "rack": "r2",
            "devices": [{"model": "H100", "count": 1, "simulated": True}],
        },
    ]
}


def env_of(api: TestClient, job_id: str, name: str) -> str:
    for line in api.get(f"/api/v1/jobs/{job_id}/logs").text.splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} not in the job's environment")


def test_import_shows_simulated_devices_with_their_models(api: TestClient) -> None:
    answer = api.post("/api/v1/nodes/import", json=INVENTORY)
    assert answer.status_code == 200, answer.text
    nodes = {n["name"]: n for n in api.get("/api/v1/nodes").json()["items"]}
    assert [d["model"] for d in nodes["gpu-a"]["devices"]] == ["A100-80GB", "A100-80GB"]
    assert nodes["gpu-b"]["devices"][0]["model"] == "H100-SXM"  # the alias, resolved
    assert nodes["gpu-a"]["simulated"] and nodes["gpu-a"]["labels"]["pool"] == "train"
    assert nodes["gpu-a"]["devices"][0]["memory_mib"] == 80 * 1024


def test_a_job_gets_the_devices_it_was_bound_to(api: TestClient) -> None:
    api.post("/api/v1/nodes/import", json=INVENTORY)
    spec = {"command": "env", "resources": {"accelerator": {"count": 2}}}
    done = wait_state(api, submit(api, spec)["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    replica = done["replicas"][0]
    assert replica["node"] == "gpu-a"
    assert [d["index"] for d in replica["devices"]] == [0, 1]
    assert env_of(api, done["id"], "CUDA_VISIBLE_DEVICES") == "0,1"


GATED = 'while [ ! -e "$AICC_OUTPUT_DIR/gate" ]; do sleep 0.05; done'  # until the test says go


def open_gate(tmp_path: Path, job: dict) -> None:
    (tmp_path / "home" / "runs" / job["id"] / "outputs" / "gate").touch()


def test_shares_of_one_device_run_side_by_side(api: TestClient, tmp_path: Path) -> None:
    api.post("/api/v1/nodes/import", json=INVENTORY)
    share = {"accelerator": {"milli": 500, "model": ["H100-SXM"], "memory": "20GiB"}}
    jobs = [submit(api, {"command": GATED, "resources": share}) for _ in range(3)]
    running = [wait_state(api, j["id"], {"running", "succeeded"}) for j in jobs[:2]]
    assert {r["replicas"][0]["node"] for r in running} == {"gpu-b"}
    gpu_b = next(n for n in api.get("/api/v1/nodes").json()["items"] if n["name"] == "gpu-b")
    assert gpu_b["devices"][0]["allocated_milli"] in (500, 1000)
    third = api.get(f"/api/v1/jobs/{jobs[2]['id']}").json()
    # waiting for room is pending, not admitted (issue 63.1), or it already got the room
    assert third["state"] in ("pending", "succeeded", "running", "scheduled")
    for job in jobs[:2]:  # the first two end, and the third gets their room
        open_gate(tmp_path, job)
    wait_state(api, jobs[2]["id"], {"running"})
    open_gate(tmp_path, jobs[2])
    for job in jobs:
        assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_cordon_stops_new_placements_until_uncordoned(api: TestClient) -> None:
    api.post("/api/v1/nodes/import", json=INVENTORY)
    assert api.post("/api/v1/nodes/gpu-b/cordon").json()["state"] == "cordoned"
    job = submit(
        api, {"command": "true", "resources": {"accelerator": {"model": "H100", "count": 1}}}
    )
    why = wait(
        "the job waits for resources",
        lambda: (
            (w := api.get(f"/api/v1/jobs/{job['id']}/explain").json())["reasons"]
            and w["reasons"][0]["code"] == "resources"
            and w
        ),
    )
    assert why["state"] == "pending"  # waiting for room is not admission (issue 63.1)
    api.post("/api/v1/nodes/gpu-b/uncordon")
    assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"


@sqlite_only
def test_a_bad_inventory_names_what_to_fix(api: TestClient) -> None:
    bad = {"nodes": [{"name": "x", "cpu": 1, "memory": "1GiB", "devices": [{"model": "Z9000"}]}]}
    answer = api.post("/api/v1/nodes/import", json=bad)
    assert answer.status_code == 422 and "Z9000" in answer.text
    typo = api.post(
        "/api/v1/jobs", json={"command": "x", "resources": {"accelerator": {"model": "A10O"}}}
    )
    assert typo.status_code == 422 and "A10O" in typo.text
    missing = api.post("/api/v1/nodes/import", json={"nodes": [{"name": "x"}]})
    assert missing.status_code == 422 and "cpu_milli" in missing.text
    assert "x" not in {n["name"] for n in api.get("/api/v1/nodes").json()["items"]}


def test_drain_with_evict_requeues_running_work_elsewhere(api: TestClient) -> None:
    api.post("/api/v1/nodes/import", json=INVENTORY)
    spec = {
        "command": "sleep 30",
        "max_retries": 1,
        "resources": {"accelerator": {"model": "H100", "count": 1}},
    }
    job = wait_state(api, submit(api, spec)["id"], {"running"})
    assert job["replicas"][0]["node"] == "gpu-b"
    drained = api.post("/api/v1/nodes/gpu-b/drain", params={"evict": "true"})
    assert drained.status_code == 200 and drained.json()["state"] == "draining"
    requeued = wait_state(api, job["id"], {"pending", "admitted"}, timeout=30)
    assert requeued["attempt"] == 1 and requeued["reason"] in ("preempted", "admitted")
    why = api.get(f"/api/v1/jobs/{job['id']}/explain").json()
    assert why["reasons"][0]["code"] == "resources"  # the only H100 node takes nothing new
    api.post(f"/api/v1/jobs/{job['id']}/cancel")


MIG_NODE = {
    "nodes": [
        {
            "name": "mig-a",
            "cpu": 16,
            "memory": "64GiB",
            "devices": [
                {"model": "A100-80GB", "simulated": True, "mig": ["1g.10gb"] * 7},
            ],
        }
    ]
}


def test_mig_slices_of_one_gpu_run_side_by_side_and_are_freed(
    api: TestClient, tmp_path: Path
) -> None:
    assert api.post("/api/v1/nodes/import", json=MIG_NODE).status_code == 200
    spec = {  # the gate is in the job's outputs, the one place of this machine its sandbox shows
        "command": 'while [ ! -e "$AICC_OUTPUT_DIR/gate" ]; do sleep 0.2; done; env',
        "resources": {"cpu": "500m", "memory": "256MiB", "accelerator": {"mig": "1g.10gb"}},
    }
    jobs = [submit(api, spec) for _ in range(8)]
    running = [wait_state(api, j["id"], {"running"}) for j in jobs[:7]]
    picks = [r["replicas"][0]["devices"][0] for r in running]
    assert {r["replicas"][0]["node"] for r in running} == {"mig-a"}
    assert {p["index"] for p in picks} == {0} and {p["milli"] for p in picks} == {142}
    assert sorted(p["mig_slice"] for p in picks) == list(range(7))  # one GPU, seven jobs

    why = wait(
        "the eighth waits for resources",
        lambda: (
            (w := api.get(f"/api/v1/jobs/{jobs[7]['id']}/explain").json())["reasons"]
            and w["reasons"][0]["code"] == "resources"
            and w
        ),
    )
    assert why["state"] == "pending", why
    (node,) = [n for n in api.get("/api/v1/nodes").json()["items"] if n["name"] == "mig-a"]
    assert [s["allocated"] for s in node["devices"][0]["mig"]] == [True] * 7
    assert node["devices"][0]["allocated_milli"] == 7 * 142

    for job in jobs[:7]:  # the first seven end, their slices are freed, and the eighth gets one
        open_gate(tmp_path, job)
    wait_state(api, jobs[7]["id"], {"running"})
    open_gate(tmp_path, jobs[7])
    done = wait_state(api, jobs[7]["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded" and done["replicas"][0]["devices"][0]["mig_slice"] in range(
        7
    )
    assert env_of(api, done["id"], "AICC_MIG_PROFILE") == "1g.10gb"
    assert env_of(api, done["id"], "CUDA_VISIBLE_DEVICES") == "0"  # simulated: the GPU's index


@sqlite_only
def test_a_mig_request_that_cannot_be_met_is_refused_with_what_to_ask(api: TestClient) -> None:
    wrong = {"command": "x", "resources": {"accelerator": {"mig": "1g.5gb", "model": "A100"}}}
    answer = api.post("/api/v1/jobs", json=wrong)
    assert answer.status_code == 422
    assert "A100-80GB has no MIG profile '1g.5gb' (offers: 1g.10gb, 1g.20gb" in answer.text
    api.post("/api/v1/nodes/import", json=INVENTORY)  # whole A100s and an H100, none in MIG mode
    nowhere = api.post(
        "/api/v1/jobs", json={**wrong, "resources": {"accelerator": {"mig": "1g.10gb"}}}
    )
    assert nowhere.status_code == 422 and "one MIG slice 1g.10gb" in nowhere.text
    real = {"nodes": [{**MIG_NODE["nodes"][0], "devices": [{"model": "A100", "mig": ["7g.80gb"]}]}]}
    refused = api.post("/api/v1/nodes/import", json=real)
    assert refused.status_code == 422 and "only for simulated devices" in refused.text


def test_pages_of_nodes_follow_by_name_each_with_its_devices(api: TestClient) -> None:
    assert api.post("/api/v1/nodes/import", json=INVENTORY).status_code == 200
    every = api.get("/api/v1/nodes").json()["items"]
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/api/v1/nodes", params=params).json()
        seen += answer["items"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert [n["name"] for n in seen] == sorted(n["name"] for n in every)
    assert {"gpu-a", "gpu-b"} <= {n["name"] for n in seen}
    models = {n["name"]: [d["model"] for d in n["devices"]] for n in seen}
    assert models["gpu-a"] == ["A100-80GB", "A100-80GB"] and models["gpu-b"] == ["H100-SXM"]


@sqlite_only
def test_a_job_refused_for_want_of_a_node_is_accepted_once_one_is_imported(
    api: TestClient,
) -> None:
    """The fit check keeps its view of the nodes a few seconds (services/jobs/jobs.py), but a
    refusal looks again first: a node just imported is never missed."""
    two_a100 = {"command": "true", "resources": {"accelerator": {"count": 2, "model": "A100-80GB"}}}
    refused = api.post("/api/v1/jobs", json=two_a100)
    assert refused.status_code == 422 and "can ever run" in refused.json()["detail"]
    assert api.post("/api/v1/nodes/import", json=INVENTORY).status_code == 200
    accepted = api.post("/api/v1/jobs", json=two_a100)
    assert accepted.status_code == 201, accepted.text
