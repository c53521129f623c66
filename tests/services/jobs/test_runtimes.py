"""Runtime predictions in the live scheduling pass (issue 38.4): with the `predicted` profile,
of two waiting jobs that declare the same ten hours, the one whose project's like jobs finished
in a minute runs before the one whose like jobs ran for five hours, though it came later."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from aicc.loops import scheduling
from aicc.services.common import utcnow
from aicc.services.jobs.runtimes import Runtimes, wanted
from aicc.services.serving import lifecycle
from aicc.store.tables.jobs import JobRow
from aicc.testing.jobs import submit
from aicc.testing.servers import in_process

ONE_GPU = {
    "nodes": [
        {
            "name": "gpu-1",
            "cpu": 8,
            "memory": "64GiB",
            "devices": [{"model": "A100-80GB", "count": 1, "simulated": True}],
        }
    ]
}
HISTORY = {"alpha": 60, "beta": 5 * 3600}  # how long each project's finished jobs ran


def gpu_job(project: str) -> dict[str, Any]:
    return {
        "command": "true",
        "project": project,
        "resources": {"cpu": 1, "memory": "1GiB", "accelerator": {"count": 1}},
        "max_runtime": "10h",
    }


def test_the_job_whose_like_jobs_were_short_runs_first(tmp_path: Path) -> None:
    with in_process(tmp_path / "home", policy="predicted") as (api, state):
        state.controller.stop()  # the test runs the passes itself
        assert wanted(state.controller.profile)
        assert api.post("/api/v1/nodes/import", json=ONE_GPU).status_code == 200
        for name in HISTORY:
            assert api.post("/api/v1/projects", json={"name": name}).status_code == 201
        ended = utcnow() - timedelta(hours=1)
        for name, seconds in HISTORY.items():  # the store as a day of such jobs left it
            for _ in range(3):
                done = submit(api, gpu_job(name))
                with state.db.session() as session:
                    row = session.get(JobRow, done["id"])
                    assert row is not None
                    row.state, row.reason = "succeeded", "completed"
                    row.started_at, row.ended_at = ended - timedelta(seconds=seconds), ended
        late = submit(api, gpu_job("beta"))
        early = submit(api, gpu_job("alpha"))  # submitted after beta's

        runtimes = Runtimes()
        lease = state.controller.lease
        assert lease.try_acquire(utcnow())
        bound = scheduling.cycle(
            state.db, lease, utcnow(), state.controller.profile, runtimes=runtimes
        )
        assert bound == 1
        ids = (early["id"], late["id"])
        states = {j: api.get(f"/api/v1/jobs/{j}").json()["state"] for j in ids}
        assert states[early["id"]] in {"scheduled", "running"}, states
        assert states[late["id"]] in {"pending", "admitted"}, states

        # what the pass predicted: near each project's history, far below the ten hours declared
        with state.db.reader() as session:
            assert runtimes.learn(session) == 0  # nothing finished since the pass
            waiting = [
                v
                for v in scheduling.snapshots.read(
                    session, utcnow(), protect=lifecycle.protected
                ).snapshot.pending
                if v.id == late["id"]
            ]
        (view,) = runtimes.predicted(waiting)
        assert view.predicted_runtime_s is not None
        assert 3600 < view.predicted_runtime_s < 10 * 3600

        # a job that ends later, at the same instant as the last one read, is learned once
        with state.db.session() as session:
            row = session.get(JobRow, early["id"])
            assert row is not None
            row.state, row.reason = "succeeded", "completed"
            row.started_at, row.ended_at = ended - timedelta(seconds=60), ended
        with state.db.reader() as session:
            assert (runtimes.learn(session), runtimes.learn(session)) == (1, 0)
        lease.release()
