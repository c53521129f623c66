"""A node that fails repeatedly is cordoned, by the live loops with the local executor, and only an
operator lifts the cordon (issue 4, item 6). Only the node's own loss counts: a job that kills its
supervisor blames no node (issue 16)."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.executors.local import runtime
from aicc.services.common import utcnow
from aicc.services.nodes import node_health
from aicc.store.tables.jobs import ReplicaRow
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


def test_a_node_lost_three_times_is_cordoned_until_an_operator_lifts_it(tmp_path: Path) -> None:
    """A node whose engine does not answer (no executor of its name runs here) loses every
    replica placed there and goes down; importing it again brings it back, as a discovery
    would. After three such losses it stays cordoned, until an operator lifts the cordon."""
    home = tmp_path / "home"
    with in_process(home, node_name="here", limits={"grace_s": 1.0}) as (api, state):
        import_node(api, "flaky", executor="gone")
        assert api.post("/api/v1/nodes/here/cordon").status_code == 200  # work goes to flaky
        spec = {"command": "echo done", "resources": {"cpu": "500m"}, "max_retries": 3}
        job_id = submit(api, spec)["id"]
        for attempt in range(3):
            wait_for(f"flaky down ({attempt})", lambda: node(api, "flaky")["state"] != "ready")
            if attempt < 2:
                import_node(api, "flaky", executor="gone")  # back, and lost again

        wait_for("flaky cordoned", lambda: node(api, "flaky")["state"] == "cordoned")
        flaky = node(api, "flaky")
        assert flaky["state_reason"] == "cordoned by AICC: 3 failures in 24 h", flaky
        entries = api.get("/api/v1/audit", params={"action": "node.cordoned"}).json()["items"]
        entry = next(e for e in entries if e["object_id"] == flaky["id"])
        assert entry["user_name"] == "system" and entry["detail"]["reason"] == flaky["state_reason"]
        failures = [f["what"] for f in entry["detail"]["failures"]]
        assert len(failures) == 3 and all(f.startswith("down: ") for f in failures), failures

        # the requeued job and a new one wait: no placement lands on the cordoned node
        fresh = submit(api, {"command": "echo fresh", "resources": {"cpu": "500m"}})["id"]
        import_node(api, "flaky")  # repaired: its engine answers again, the cordon stays
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


# The job kills its own supervisor, as any member can (`kill -9 $PPID`), and leaves behind a
# process that beats a heartbeat file of its attempt, for as long as anything of it runs.
KILLS_ITS_SUPERVISOR = (
    'out="$AICC_OUTPUT_DIR"; a="$AICC_ATTEMPT"\n'
    '( while :; do date +%s%N >> "$out/hb.$a"; sleep 0.05; done ) &\n'
    'echo $! > "$out/bg.$a"\n'
    "sleep 0.5\n"
    "kill -9 $PPID\n"
    "sleep 300\n"
)


def beats(outputs: Path, attempt: int) -> list[int]:
    return [int(t) for t in (outputs / f"hb.{attempt}").read_text().split()]


def test_a_job_that_kills_its_supervisor_is_stopped_retried_once_at_a_time_and_blames_no_node(
    tmp_path: Path,
) -> None:
    """Without the sandbox (`sandbox: off`): inside it, `$PPID` is the sandbox's own init,
    which a job cannot kill (tests/executors/test_sandbox.py), so only there can a job reach its
    supervisor. A supervisor killed from outside, sandbox on: tests/e2e/test_crash.py."""
    home = tmp_path / "home"
    limits = {"grace_s": 1.0}
    with in_process(home, node_name="here", limits=limits, sandbox="off") as (api, state):
        spec = {
            "command": KILLS_ITS_SUPERVISOR,
            "resources": {"cpu": "500m", "memory": "256MiB"},
            "max_retries": 2,
        }
        job_id = submit(api, spec)["id"]
        outputs = home / "runs" / job_id / "outputs"
        try:
            done = wait_state(api, job_id, {"succeeded", "failed", "cancelled"}, timeout=90)
            assert (done["state"], done["reason"], done["attempt"]) == (
                "failed",
                "supervisor_lost",
                2,
            ), done
            assert done["message"] == "replica 0 lost its supervisor and no retries are left"
            with state.db.reader() as session:
                query = select(ReplicaRow).where(ReplicaRow.job_id == job_id)
                rows = list(session.scalars(query.order_by(ReplicaRow.attempt)))
            assert [(r.attempt, r.state, r.reason) for r in rows] == [
                (n, "lost", "supervisor_lost") for n in range(3)
            ]
            # Each attempt ran alone: what its job left behind was stopped (its heartbeats end)
            # before the next attempt's replica started.
            for prev, nxt in itertools.pairwise(rows):
                assert prev.ended_at and nxt.started_at and prev.ended_at <= nxt.started_at
            for attempt in (1, 2):
                assert max(beats(outputs, attempt - 1)) < min(beats(outputs, attempt))
            for attempt in range(3):
                pid = int((outputs / f"bg.{attempt}").read_text())
                assert not runtime.process_alive(pid, None), f"attempt {attempt} runs on"

            # Three lost supervisors, three retries: the node is no worse for it.
            here = node(api, "here")
            assert (here["state"], here["state_reason"]) == ("ready", ""), here
            cordons = api.get("/api/v1/audit", params={"action": "node.cordoned"}).json()
            assert cordons["items"] == []
            after = submit(api, {"command": "echo after", "resources": {"cpu": "500m"}})["id"]
            assert wait_state(api, after, {"succeeded", "failed"}, timeout=60)["state"] == (
                "succeeded"
            )
        finally:  # never leave orphans beating, whatever failed
            for status in (home / "runs" / job_id).glob("*/0/status.json"):
                pgid = (runtime.read_json(status) or {}).get("pid")
                with contextlib.suppress(OSError, TypeError):
                    os.killpg(pgid, signal.SIGKILL)


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
