"""A node that fails repeatedly is cordoned, by the live loops with the local executor, and only an
operator lifts the cordon (issue 4, item 6)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.executors.local import runtime
from aicc.services import node_health
from aicc.services.common import utcnow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process


def node(api: TestClient, name: str) -> dict[str, Any]:
    found = {n["name"]: n for n in api.get("/api/v1/nodes").json()["items"]}
    return found[name]


def import_node(api: TestClient, name: str, executor: str = "local") -> None:
    inventory = {"nodes": [{"name": name, "executor": executor, "cpu": 4, "memory": "8GiB"}]}
    assert api.post("/api/v1/nodes/import", json=inventory).status_code == 200


def wait_for(what: str, probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return value


def kill_supervisor(home: Path, job_id: str, attempt: int) -> None:
    """SIGKILL the replica's supervisor, then its command: the replica reads as lost, as when
    the machine under it fails."""
    status = home / "runs" / job_id / str(attempt) / "0" / "status.json"

    def started() -> dict[str, Any] | None:
        data = runtime.read_json(status)
        return data if data and data.get("pid") else None

    data = wait_for("the replica to start", started)
    os.kill(data["supervisor_pid"], signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(data["pid"], signal.SIGKILL)


def running(api: TestClient, job_id: str, attempt: int) -> dict[str, Any] | None:
    job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}").json()
    return job if (job["state"], job["attempt"]) == ("running", attempt) else None


def test_a_node_that_loses_replicas_three_times_is_cordoned_until_an_operator_lifts_it(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    with in_process(home, node_name="here", limits={"grace_s": 1.0}) as (api, state):
        import_node(api, "flaky")
        assert api.post("/api/v1/nodes/here/cordon").status_code == 200  # work goes to flaky
        spec = {
            "command": 'if [ "$AICC_ATTEMPT" -lt 3 ]; then sleep 60; fi; echo done',
            "resources": {"cpu": "500m", "memory": "256MiB"},
            "max_retries": 3,
        }
        job_id = submit(api, spec)["id"]
        for attempt in range(3):
            job = wait_for(f"attempt {attempt} running", lambda a=attempt: running(api, job_id, a))
            assert job["replicas"][-1]["node"] == "flaky"  # after 0, 1, 2 failures: still used
            kill_supervisor(home, job_id, attempt)

        wait_for("flaky cordoned", lambda: node(api, "flaky")["state"] == "cordoned")
        flaky = node(api, "flaky")
        assert flaky["state_reason"] == "cordoned by AICC: 3 failures in 24 h", flaky
        entries = api.get("/api/v1/audit", params={"action": "node.cordoned"}).json()["items"]
        entry = next(e for e in entries if e["object_id"] == flaky["id"])
        assert entry["user_name"] == "system" and entry["detail"]["reason"] == flaky["state_reason"]
        failures = [f["what"] for f in entry["detail"]["failures"]]
        assert len(failures) == 3 and all(f.startswith("replica lost: ") for f in failures)

        # the requeued job and a new one wait: no placement lands on the cordoned node
        fresh = submit(api, {"command": "echo fresh", "resources": {"cpu": "500m"}})["id"]
        time.sleep(1.0)  # several passes of the loops (0.2 s each)
        for waiting in (job_id, fresh):
            job = api.get(f"/api/v1/jobs/{waiting}").json()
            assert job["state"] in ("pending", "admitted"), job
            assert all(r["attempt"] < job["attempt"] for r in job["replicas"]), job
        assert node(api, "flaky")["state"] == "cordoned"  # nothing lifts it but an operator

        # the operator lifts it: the old failures no longer count, and work runs there again
        assert api.post("/api/v1/nodes/flaky/uncordon").status_code == 200
        for done_id in (job_id, fresh):
            done = wait_state(api, done_id, {"succeeded", "failed"}, timeout=60)
            assert done["state"] == "succeeded", done
            assert done["replicas"][-1]["node"] == "flaky"
        assert node(api, "flaky")["state"] == "ready"
        _check_window(state, flaky["id"])


def _check_window(state: AppState, node_id: str) -> None:
    """The failures are still on record, but only within the window, and none since the
    uncordon: a fourth failure now would count as the first."""
    now = utcnow()
    with state.db.reader() as session:
        day = node_health.failures(session, node_id, since=now - timedelta(hours=24))
        assert len(day) == 3
        assert node_health.failures(session, node_id, since=now + timedelta(seconds=1)) == []
        uncordoned = node_health.last_uncordoned(session, node_id)
        assert uncordoned is not None
        assert node_health.failures(session, node_id, since=uncordoned) == []


def test_a_node_that_goes_down_repeatedly_is_cordoned_and_stays_so_when_it_returns(
    tmp_path: Path, db_url: str | None
) -> None:
    """A node whose engine cannot run anything: every replica placed there is lost with the
    node, which goes down; importing it again brings it back, as an engine's discovery would."""
    limits = {"node_failures_to_cordon": 2, "node_failure_window_h": 1.5}
    with in_process(tmp_path / "home", db_url, node_name="here", limits=limits) as (api, _):
        import_node(api, "ghost", executor="gone")  # no executor of that name runs
        assert api.post("/api/v1/nodes/here/cordon").status_code == 200
        job_id = submit(api, {"command": "true", "max_retries": 2})["id"]

        wait_for("ghost down", lambda: node(api, "ghost")["state"] == "down")
        assert "no executor gone" in node(api, "ghost")["state_reason"]
        # Back: ready again, one failure so far. Not asserted here: the retried job may be placed
        # there, lost and counted at once, before a read could see "ready".
        import_node(api, "ghost", executor="gone")

        wait_for("ghost cordoned", lambda: node(api, "ghost")["state"] == "cordoned")
        ghost = node(api, "ghost")
        assert ghost["state_reason"] == "cordoned by AICC: 2 failures in 1.5 h"
        import_node(api, "ghost", executor="gone")  # the engine's word does not lift it
        assert node(api, "ghost")["state"] == "cordoned"
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        assert job["attempt"] == 2 and job["state"] in ("pending", "admitted"), job
        assert job["replicas"] and {r["reason"] for r in job["replicas"]} == {"node_lost"}
        events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
        assert all(e["kind"] != "node_down" for e in events)  # node events are not the job's
