"""The waiting counts (services/jobs/waiting.py) agree with the jobs that wait, whatever moved them:
submits, the scheduler starting one, a cancel, a refused submit, a dry run rolled back; and two
servers submitting at once for one user on PostgreSQL never pass the user's limit between
them. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.portal import submitting
from aicc.services.common import TooMany
from aicc.services.jobs import jobs, waiting
from aicc.services.tenancy import tenancy
from aicc.store.db import MIGRATIONS, Database
from aicc.store.group_commit import Transactions
from aicc.store.tables.jobs import WaitingRow
from aicc.store.tables.tenancy import UserRow

HELD = {"command": "sleep 60", "queue": "one-at-a-time", "resources": {"cpu": "100m"}}


def counted(db: Database) -> dict[str, int]:
    """The counts kept, having checked them against the jobs themselves."""
    with db.reader() as session:
        assert waiting.drift(session) == {}
        rows = session.execute(select(WaitingRow.owner, WaitingRow.jobs))
        return {owner: jobs for owner, jobs in rows if jobs}


def admin(state: AppState) -> Principal:
    with state.db.reader() as session:
        row = session.scalars(select(UserRow).where(UserRow.name == "admin")).one()
        return tenancy.principal_of(session, row)


def wait_for(api: TestClient, job_id: str, state: str) -> None:
    deadline = time.monotonic() + 30
    while (seen := api.get(f"/api/v1/jobs/{job_id}").json()["state"]) != state:
        assert time.monotonic() < deadline, f"{job_id} is {seen}, not {state}"
        time.sleep(0.1)


def test_the_counts_follow_every_way_a_job_starts_or_stops_waiting(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    lane = {"name": "one-at-a-time", "max_running": 1, "max_pending": 2}
    api.post("/api/v1/queues", json=lane).raise_for_status()
    ids = [api.post("/api/v1/jobs", json=HELD).json()["id"]]
    wait_for(api, ids[0], "running")  # the scheduler took it out of waiting
    ids += [api.post("/api/v1/jobs", json=HELD).json()["id"] for _ in range(2)]
    mine = f"user/{admin(state).user_id}"
    assert counted(state.db)[mine] == 2

    api.post(f"/api/v1/jobs/{ids[1]}/cancel").raise_for_status()
    wait_for(api, ids[1], "cancelled")
    assert counted(state.db)[mine] == 1

    # A dry run in the portal submits in a savepoint and rolls it back: nothing counted.
    spec = JobSpec.model_validate(HELD)
    with state.db.session() as session:
        assert submitting.submit(session, state, admin(state), spec, key=None, dry_run=True) is None
    assert counted(state.db)[mine] == 1

    ids.append(api.post("/api/v1/jobs", json=HELD).json()["id"])  # the queue's second
    refused = api.post("/api/v1/jobs", json=HELD)
    assert refused.status_code == 429, refused.text
    assert "holds its maximum of 2 waiting jobs" in refused.json()["detail"]
    with state.db.session() as session, pytest.raises(submitting.Refused):
        submitting.submit(session, state, admin(state), spec, key=None)
    assert counted(state.db)[mine] == 2

    for job_id in (ids[0], ids[2], ids[3]):
        api.post(f"/api/v1/jobs/{job_id}/cancel").raise_for_status()
        wait_for(api, job_id, "cancelled")
    assert counted(state.db) == {}


def test_an_upgrade_counts_the_jobs_already_waiting(server: tuple[TestClient, AppState]) -> None:
    """Migration 0030 fills the counts in from the jobs (a center upgraded with jobs waiting)."""
    api, state = server
    api.post("/api/v1/queues", json={"name": "one-at-a-time", "max_running": 1}).raise_for_status()
    ids = [api.post("/api/v1/jobs", json=HELD).json()["id"] for _ in range(4)]
    wait_for(api, ids[0], "running")  # and three wait behind it
    # A center migrates with its servers stopped: on PostgreSQL the migration's DDL and a pass's
    # transaction would otherwise wait on each other (a deadlock seen once under load).
    state.controller.stop()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", state.db.url.replace("%", "%%"))
    command.downgrade(config, "0029")  # as the release before left it: no counts kept
    command.upgrade(config, "head")
    assert sorted(counted(state.db).values()) == [3, 3]


def test_two_servers_submitting_for_one_user_at_once_keep_to_the_limit(
    server: tuple[TestClient, AppState],
) -> None:
    """Each server's batch checks the counts it read; the second commit, under the count's
    lock, sees the first's jobs and is refused, so the two never hold more than the limit."""
    _, state = server
    who, limit = admin(state), 5
    spec = JobSpec.model_validate({"command": "true", "resources": {"cpu": "100m"}})
    limits = jobs.SubmitLimits(max_pending_per_user=limit)
    servers = [Transactions(state.db), Transactions(Database(state.db.url))]
    start = threading.Barrier(len(servers))
    answers: list[Any] = []

    def one_server(writes: Transactions) -> None:
        async def burst() -> list[Any]:
            def submit(session: Any) -> Any:
                return jobs.submit(session, who, spec, idempotency_key=None, limits=limits)

            calls = [writes.run(submit) for _ in range(2 * limit)]
            return await asyncio.gather(*calls, return_exceptions=True)

        start.wait()
        answers.extend(asyncio.run(burst()))

    threads = [threading.Thread(target=one_server, args=(s,)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for writes in servers:
        writes.close()
    accepted = [a for a in answers if isinstance(a, tuple)]
    refused = [a for a in answers if isinstance(a, TooMany)]
    assert (len(accepted), len(refused)) == (limit, 3 * limit), answers
    assert counted(state.db)[f"user/{who.user_id}"] == limit
