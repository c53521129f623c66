"""The live server with the default profile: a project borrows idle GPUs, the owner's job comes,
the borrowed job is preempted, requeued, and finishes later (issue 3's live check)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from aicc.services.jobs import snapshots
from aicc.services.serving import lifecycle
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

POOL = {
    "nodes": [
        {
            "name": "gpu-pool-1",
            "cpu": 32,
            "memory": "256GiB",
            "pool": "shared",
            "devices": [{"model": "A100-80GB", "count": 4, "simulated": True}],
        }
    ]
}


def gpu_job(api: TestClient, project: str) -> dict:
    spec = {
        # The gate is in the job's outputs, the one place of this machine its sandbox shows.
        "command": 'while [ ! -e "$AICC_OUTPUT_DIR/gate" ]; do sleep 0.2; done; echo done',
        "project": project,
        "resources": {"cpu": 1, "memory": "1GiB", "accelerator": {"count": 1}},
        "max_retries": 1,
        "max_runtime": "10m",
    }
    return submit(api, spec)


def test_borrowed_gpus_are_reclaimed_by_preemption_and_the_victim_finishes_later(
    tmp_path: Path,
) -> None:
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, state):
        assert api.post("/api/v1/nodes/import", json=POOL).status_code == 200
        org = api.get("/api/v1/me").json()["org"]["id"]
        quota = {"guaranteed": {"A100-80GB": 4000}, "max": {"A100-80GB": 4000}}
        assert api.put(f"/api/v1/orgs/{org}/quota", json=quota).status_code == 200
        projects = {}
        for name in ("alpha", "beta"):
            project = api.post("/api/v1/projects", json={"name": name}).json()
            share = {"guaranteed": {"A100-80GB": 2000}, "max": {"A100-80GB": 4000}}
            assert api.put(f"/api/v1/projects/{project['id']}/quota", json=share).status_code == 200
            projects[name] = project["id"]

        # alpha takes all four GPUs: two within its guarantee, two borrowed from beta's share
        alpha = [gpu_job(api, "alpha") for _ in range(4)]
        running = [wait_state(api, j["id"], {"running"}) for j in alpha]
        assert len({r["replicas"][0]["devices"][0]["index"] for r in running}) == 4

        # beta's job comes: one of alpha's borrowed jobs is preempted to give beta its guarantee
        beta = gpu_job(api, "beta")
        wait_state(api, beta["id"], {"running"}, timeout=60)
        jobs = [api.get(f"/api/v1/jobs/{j['id']}").json() for j in alpha]
        victims = [j for j in jobs if j["attempt"] == 1]
        assert len(victims) == 1, [(j["state"], j["attempt"]) for j in jobs]
        victim = victims[0]
        states = [
            e["to_state"] for e in api.get(f"/api/v1/jobs/{victim['id']}/events").json()["items"]
        ]
        assert states[-3:] == ["running", "preempted", "pending"] or "preempted" in states
        why = api.get(f"/api/v1/jobs/{victim['id']}/explain").json()
        assert why["state"] in ("pending", "admitted") and why["reasons"]
        # its first attempt's GPU-time counts (LAS policies), and its wait from that attempt's end
        with state.db.reader() as session:
            now = datetime.now(UTC)
            waiting = snapshots.build(session, now, protect=lifecycle.protected).pending
        (view,) = [j for j in waiting if j.id == victim["id"]]
        assert view.attained_s > 0
        assert view.queued_at is not None and view.submitted_at < view.queued_at <= now

        # everyone finishes once the gate opens; the victim reruns as attempt 1 and succeeds
        for job in [*alpha, beta]:
            (tmp_path / "home" / "runs" / job["id"] / "outputs" / "gate").touch()
        for job in [*alpha, beta]:
            done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=60)
            assert done["state"] == "succeeded", done
        final = api.get(f"/api/v1/jobs/{victim['id']}").json()
        assert final["attempt"] == 1 and final["replicas"][0]["attempt"] == 1
        assert api.get(f"/api/v1/jobs/{victim['id']}/logs").text == "done\n"
