"""An elastic job end to end (issue 40): examples/elastic trains through the real torchrun on a
real server; it grows into the machine's idle CPUs, gives a replica back to a job that needs it
instead of being preempted, grows again once that job is done, and its loss goes on across every
change; it is billed for the replicas that ran, for as long as each ran."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import Servers, transitions, wait_for, wait_state

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "elastic"
STEP = re.compile(r"^step (\d+) world (\d+) loss ([0-9.]+)$", re.M)
STEPS = 300


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    pytest.importorskip("torch")
    with Servers(tmp_path) as started:
        yield started


def _events(api: httpx.Client, job_id: str, reason: str) -> list[dict[str, Any]]:
    items = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    return [e for e in items if e["kind"] == "elastic" and e["reason"] == reason]


def _steps(aicc: Any, job_id: str, replicas: int) -> list[tuple[int, int, float]]:
    """(step, world, loss) as rank 0 printed them, whichever replica it was on."""
    found = []
    for index in range(replicas):
        out = aicc("job", "logs", job_id, "--replica", str(index)).stdout
        found += [(int(s), int(w), float(v)) for s, w, v in STEP.findall(out)]
    return sorted(found)


def _worlds(api: httpx.Client, job_id: str, replicas: int) -> set[int]:
    """The world sizes rank 0 printed so far, read through the API: what a wait polls (the
    CLI's `job logs`, a process of a second's CPU each, would take it from the training)."""
    found = set()
    for index in range(replicas):
        out = api.get(f"/api/v1/jobs/{job_id}/logs", params={"replica": index}).text
        found |= {int(w) for _, w, _ in STEP.findall(out)}
    return found


def test_an_elastic_job_grows_shrinks_and_trains_on_through_torchrun(
    servers: Servers, tmp_path: Path
) -> None:
    server = servers.start()
    aicc = servers.cli(server)
    headers = {"Authorization": f"Bearer {server.token}"}
    api = httpx.Client(timeout=60, base_url=server.url, headers=headers)
    (node,) = api.get("/api/v1/nodes").json()["items"]
    each = node["cpu_milli"] // 3  # two elastic replicas leave a third of the CPUs
    project = tmp_path / "elastic"
    shutil.copytree(EXAMPLE, project)
    spec = (project / "job.yaml").read_text()
    spec = spec.replace("replicas: {min: 1, max: 3}", "replicas: {min: 1, max: 2}")
    spec = spec.replace("cpu: 500m", f"cpu: {each}m").replace("--steps 300", f"--steps {STEPS}")
    (project / "job.yaml").write_text(spec)
    job_id = aicc("job", "submit", "-f", str(project / "job.yaml")).stdout.strip()

    # nothing waits: it grows to its maximum, and torchrun trains on two workers
    wait_for(lambda: _events(api, job_id, "grown"), 120, "the elastic job growing")
    wait_for(lambda: 2 in _worlds(api, job_id, 2), 120, "world 2", every=0.5)

    # a job that fits only in the second replica's CPUs takes it back: a shrink, no preemption
    big = api.post(
        "/api/v1/jobs",
        json={"command": "sleep 25", "resources": {"cpu": f"{node['cpu_milli'] // 2}m"}},
    ).json()
    shrunk = wait_for(lambda: _events(api, job_id, "shrunk"), 60, "the elastic job shrinking")
    assert shrunk[0]["data"]["preemptor"] == big["id"], shrunk
    wait_state(api, big["id"], {"succeeded"}, timeout=120)
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "running" and "preempted" not in transitions(api, job_id), job
    released = [r for r in job["replicas"] if r["released_at"]]
    assert [r["index"] for r in released] == [1], job["replicas"]

    # room again: it grows back, and ends when its training does
    wait_for(lambda: len(_events(api, job_id, "grown")) >= 2, 120, "the elastic job regrowing")
    done = wait_state(api, job_id, {"succeeded", "failed"}, timeout=300)

    def all_stopped() -> list[dict[str, Any]]:  # a replica above the minimum may still stop
        reps = api.get(f"/api/v1/jobs/{job_id}").json()["replicas"]
        return reps if all(r["ended_at"] or not r["started_at"] for r in reps) else []

    replicas = wait_for(all_stopped, 60, "every replica stopped")
    steps = _steps(aicc, job_id, len(replicas))
    assert done["state"] == "succeeded", (done, steps[-5:])

    # training went on across every change: worlds 2, 1, 2 in that order, every step reached
    # (a restart repeats at most the step it was in), and the loss fell all along
    worlds = [w for _, w, _ in steps]
    changes = [w for i, w in enumerate(worlds) if i == 0 or w != worlds[i - 1]]
    assert changes[-3:] == [2, 1, 2] or changes == [1, 2, 1, 2], changes
    assert {s for s, _, _ in steps} == set(range(1, STEPS + 1))
    assert len(steps) <= STEPS + 3 * len(changes), len(steps)
    assert steps[-1][2] < steps[0][2] / 10, (steps[0], steps[-1])

    # billed for each replica as long as it ran: the released one for less than the job (a
    # replica stopped as it started, in the engine's whole seconds, ran nothing to bill)
    ran = [_seconds(r["started_at"], r["ended_at"]) for r in replicas if r["started_at"]]
    ran = [s for s in ran if s > 0]

    def metered() -> list[dict[str, Any]]:
        items = api.get("/api/v1/usage", params={"job": job_id}).json()["items"]
        return items if len({u["replica_id"] for u in items}) == len(ran) else []

    usage = wait_for(metered, 60, f"every replica's usage recorded ({replicas})")
    billed = sum(u["seconds"] for u in usage if u["kind"] == "compute")
    assert billed == pytest.approx(sum(ran), abs=1.0 * len(ran)), (billed, ran)
    assert len({u["replica_id"] for u in usage}) == len(ran) >= 3
    assert billed < len(ran) * max(ran)


def _seconds(start: str, end: str | None) -> float:
    assert end is not None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
