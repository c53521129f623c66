"""The scheduler cannot be stopped by a job (issue 16). Jobs stored before the job spec had its
bounds (a name from a Chinese command, runtimes and priorities past what the scheduler holds, a
10 MB command) are quarantined with a reason their owner sees, across a restart, while the other
jobs run; a placed job with a start time no datetime arithmetic survives does not make `explain`
answer 500 for everyone else. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aicc.store.tables.jobs import JobRow, ReplicaRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

# What servers before the bounds stored (each broke every scheduling pass), as stored-spec changes.
OLD_POISONS: dict[str, dict[str, Any]] = {
    "chinese-name": {"name": "训练-sh-avc9xq"},
    "runtime": {"max_runtime_s": 100_000_000 * 3600},
    "priority": {"priority": 2**63},
    "huge-command": {"command": "x" * 10_000_000},
}


def test_jobs_stored_with_bad_specs_are_quarantined_after_a_restart_and_others_run(
    tmp_path: Path, db_url: str | None
) -> None:
    home = tmp_path / "home"
    with in_process(home, db_url) as (api, state):
        state.controller.stop()  # an older server: it stores, it does not schedule
        before = submit(api, {"command": "echo before", "max_runtime": "5m"})
        poisoned = {
            what: submit(api, {"command": "echo poison", "max_runtime": "5m"})["id"]
            for what in OLD_POISONS
        }
        with state.db.session() as session:
            for what, job_id in poisoned.items():
                row = session.get(JobRow, job_id)
                assert row is not None
                row.spec = {**row.spec, **OLD_POISONS[what]}
                row.name = row.spec["name"]

    with in_process(home, db_url) as (api, _state):  # the new server starts on those rows
        after = submit(api, {"command": "echo after", "max_runtime": "5m"})
        for job in (before, after):
            assert wait_state(api, job["id"], {"succeeded", "failed"})["state"] == "succeeded"
        for what, job_id in poisoned.items():
            job = wait_state(api, job_id, {"failed"})
            assert job["reason"] == "invalid_spec", (what, job)
            field = next(iter(OLD_POISONS[what]))
            assert field in job["message"] and "submit it again" in job["message"], job
            events = api.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
            assert events[-1]["reason"] == "invalid_spec" and events[-1]["to_state"] == "failed"


def test_a_placed_job_with_an_impossible_start_does_not_break_explain(
    tmp_path: Path, db_url: str | None
) -> None:
    with in_process(tmp_path / "home", db_url) as (api, state):
        (node,) = api.get("/api/v1/nodes").json()["items"]
        whole = {"cpu": f"{node['cpu_milli']}m", "memory": "64MiB"}
        spec = {"command": "sleep 60", "resources": whole, "max_runtime": "2d"}
        holder = submit(api, spec)
        wait_state(api, holder["id"], {"running"})
        with state.db.session() as session:  # a replica's start from an engine's broken clock
            for rep in session.query(ReplicaRow).filter_by(job_id=holder["id"]):
                rep.started_at = datetime(9999, 12, 31, tzinfo=UTC)
        waiter = submit(api, {"command": "true", "resources": {"cpu": 1, "memory": "64MiB"}})

        why = api.get(f"/api/v1/jobs/{waiter['id']}/explain")

        assert why.status_code == 200, why.text
        assert why.json()["state"] in ("pending", "admitted")
        assert why.json()["reasons"][0]["code"] == "resources"
        api.post(f"/api/v1/jobs/{holder['id']}/cancel")
        assert wait_state(api, waiter["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_a_running_job_whose_stored_spec_is_over_the_limits_still_ends(
    tmp_path: Path, db_url: str | None
) -> None:
    """Placed by an older server with an environment today's limits refuse, it fails as its
    command says (its retries read as stored), and the reconciler goes on for everyone."""
    home = tmp_path / "home"
    with in_process(home, db_url) as (api, state):
        # it runs until the test says go (a file in its outputs), then exits 3
        command = 'until [ -e "$AICC_OUTPUT_DIR/go" ]; do sleep 0.05; done; exit 3'
        old = submit(api, {"command": command, "max_retries": 2, "max_runtime": "5m"})
        wait_state(api, old["id"], {"running"})
        with state.db.session() as session:  # while it runs, as an older server stored it
            row = session.get(JobRow, old["id"])
            assert row is not None
            row.spec = {**row.spec, "env": {"BIG": "v" * 100_000}}
        (home / "runs" / old["id"] / "outputs" / "go").touch()
        done = wait_state(api, old["id"], {"failed", "succeeded"})
        assert (done["state"], done["reason"], done["exit_code"]) == ("failed", "exit_code", 3)
        after = submit(api, {"command": "true", "max_runtime": "5m"})
        assert wait_state(api, after["id"], {"succeeded", "failed"})["state"] == "succeeded"


def test_a_placed_job_with_old_data_under_a_budget_does_not_stop_scheduling(
    tmp_path: Path, db_url: str | None
) -> None:
    """Budget admission reads what running jobs will still cost: from the runtime as stored,
    and from now at the latest, so neither an old spec nor a broken clock fails the snapshot."""
    with in_process(tmp_path / "home", db_url) as (api, state):
        project = api.get("/api/v1/me").json()["projects"][0]["id"]
        budget = {"limit": "1000000.00", "thresholds": [1.0]}
        assert api.put(f"/api/v1/projects/{project}/budget", json=budget).status_code == 200
        old = submit(api, {"command": "sleep 60", "max_runtime": "2d"})
        wait_state(api, old["id"], {"running"})
        with state.db.session() as session:
            row = session.get(JobRow, old["id"])
            assert row is not None
            row.spec = {**row.spec, "env": {"BIG": "v" * 100_000}}
            for rep in session.query(ReplicaRow).filter_by(job_id=old["id"]):
                rep.started_at = datetime(9999, 12, 31, tzinfo=UTC)
        after = submit(api, {"command": "true", "max_runtime": "5m"})
        assert wait_state(api, after["id"], {"succeeded", "failed"})["state"] == "succeeded"
        api.post(f"/api/v1/jobs/{old['id']}/cancel")
        assert wait_state(api, old["id"], {"cancelled"})["state"] == "cancelled"


def test_a_bound_job_whose_stored_spec_is_over_the_limits_fails_at_launch(
    tmp_path: Path, db_url: str | None
) -> None:
    """Bound by an older server but not yet launched, with a spec today's limits refuse: its
    replica fails as `invalid_spec` instead of failing every reconcile pass for everyone."""
    from aicc.loops import scheduling
    from aicc.services.common import utcnow

    home = tmp_path / "home"
    with in_process(home, db_url) as (api, state):
        state.controller.stop()  # an older server: it binds, then stops before launching
        old = submit(api, {"command": "echo old", "max_runtime": "5m"})
        lease = state.controller.lease
        assert lease.try_acquire(utcnow())
        assert scheduling.cycle(state.db, lease, utcnow(), state.controller.profile) == 1
        lease.release()
        with state.db.session() as session:
            row = session.get(JobRow, old["id"])
            assert row is not None and row.state == "scheduled"
            row.spec = {**row.spec, "env": {"BIG": "v" * 100_000}}

    with in_process(home, db_url) as (api, _state):
        done = wait_state(api, old["id"], {"failed", "succeeded"})
        assert (done["state"], done["reason"]) == ("failed", "invalid_spec"), done
        assert "submit it again" in done["message"], done
        after = submit(api, {"command": "true", "max_runtime": "5m"})
        assert wait_state(api, after["id"], {"succeeded", "failed"})["state"] == "succeeded"
