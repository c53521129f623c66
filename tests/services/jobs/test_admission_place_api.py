"""Admission means a place exists, through the real API (issue 63.1; kueue#4329: an 8-GPU job
admitted while only 2 x 4 GPUs were free across nodes hung, and smaller jobs waited behind it).

A job that could never fit is refused at submit with what each node (or, for a gang kept in one
rack, each rack) lacks; one that could fit but finds no place now stays `pending`, never
`admitted`, while the gang and the smaller jobs behind it that do fit start."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait


def gpu_node(name: str, gpus: int, rack: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "cpu": 16,
        "memory": "64GiB",
        "devices": [{"model": "H100", "count": gpus, "simulated": True}],
    }
    if rack is not None:
        out["rack"] = rack
    return out


def add_nodes(api: TestClient, *nodes: dict[str, Any]) -> None:
    answer = api.post("/api/v1/nodes/import", json={"nodes": list(nodes)})
    assert answer.status_code == 200, answer.text


def spec(gpus: int, replicas: int = 1, command: str = "sleep 600", **more: Any) -> dict[str, Any]:
    return {
        "command": command,
        "replicas": replicas,
        "resources": {"cpu": "500m", "memory": "256MiB", "accelerator": {"count": gpus}},
        **more,
    }


def test_an_8_gpu_job_on_nodes_of_4_is_refused_with_what_each_node_lacks(api: TestClient) -> None:
    add_nodes(api, gpu_node("gpu-a", 4), gpu_node("gpu-b", 4))
    answer = api.post("/api/v1/jobs", json=spec(8))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("resources: no node of this center can ever run this job")
    assert "gpu-a, gpu-b: accelerators 4/8" in detail, detail
    assert api.get("/api/v1/jobs").json()["items"] == []
    gang = api.post("/api/v1/jobs", json=spec(4, replicas=2, command="true"))
    assert gang.status_code == 201, gang.text  # 2 x 4 fits: accepted, and it runs
    assert wait_state(api, gang.json()["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_a_gang_no_rack_could_hold_is_refused_with_each_racks_room(api: TestClient) -> None:
    add_nodes(api, gpu_node("gpu-a", 4, rack="r1"), gpu_node("gpu-b", 4, rack="r2"))
    answer = api.post("/api/v1/jobs", json=spec(4, replicas=2, topology="rack"))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("topology: no rack of this center can ever hold this job's 2")
    assert "rack default/r1, rack default/r2: replicas 1/2" in detail, detail
    loose = api.post("/api/v1/jobs", json=spec(4, replicas=2, command="true"))
    assert loose.status_code == 201, loose.text  # free to spread: one replica in each rack
    done = wait_state(api, loose.json()["id"], {"succeeded", "failed"})
    assert sorted(r["node"] for r in done["replicas"]) == ["gpu-a", "gpu-b"]


def test_kueue_4329_the_8_gpu_job_waits_pending_while_the_gang_and_small_jobs_run(
    api: TestClient,
) -> None:
    add_nodes(api, gpu_node("gpu-a", 8), gpu_node("gpu-b", 8), gpu_node("gpu-c", 2))
    holders = [submit(api, spec(5)) for _ in range(2)]  # 5 on gpu-a, then 5 on gpu-b
    held = [wait_state(api, h["id"], {"running"}) for h in holders]
    assert sorted(h["replicas"][0]["node"] for h in held) == ["gpu-a", "gpu-b"]
    big = submit(api, spec(8))  # 3 + 3 + 2 free: it fits no node now, and could when empty
    gang = submit(api, spec(3, replicas=2))
    small = [submit(api, spec(1)) for _ in range(2)]
    ran = wait_state(api, gang["id"], {"running"})
    assert sorted(r["node"] for r in ran["replicas"]) == ["gpu-a", "gpu-b"]
    for job in small:
        assert wait_state(api, job["id"], {"running"})["replicas"][0]["node"] == "gpu-c"

    def explained() -> dict[str, Any] | None:
        why = api.get(f"/api/v1/jobs/{big['id']}/explain").json()
        return why if why["reasons"] and why["reasons"][0]["code"] == "resources" else None

    why = wait("the 8-GPU job waits for resources", explained)
    assert why["state"] == "pending"
    shown = api.get(f"/api/v1/jobs/{big['id']}").json()
    assert shown["state"] == "pending" and shown["attempt"] == 0, shown
    states = [e["to_state"] for e in api.get(f"/api/v1/jobs/{big['id']}/events").json()["items"]]
    assert "admitted" not in states, states
    for job in (*holders, big, gang, *small):
        api.post(f"/api/v1/jobs/{job['id']}/cancel")
