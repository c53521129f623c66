"""The scheduler cannot be stopped by a job (issue 16). Jobs stored before the job spec had its
bounds (a name from a Chinese command, runtimes and priorities past what the scheduler holds, a
10 MB command) are quarantined with a reason their owner sees, across a restart, while the other
jobs run; a placed job with a start time no datetime arithmetic survives does not make `explain`
answer 500 for everyone else. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aicc.store.tables import JobRow, ReplicaRow
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
