"""What a scheduling pass over a long queue does again and what it does not: each waiting job's
spec is parsed once (`snapshots.Parsed`), and a wait already shown is not written again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from aicc.api.state import AppState
from aicc.scheduler.snapshot import Wait, WaitReason
from aicc.services.jobs import snapshots
from aicc.services.jobs.binding import record_wait, shown_already
from aicc.services.serving import lifecycle
from aicc.store.tables.jobs import JobRow
from aicc.testing.jobs import wait_state
from aicc.testing.polling import wait

LANE = WaitReason("queue", "queue held has 1 running job, its maximum")
ROOM = WaitReason("resources", "no node has 1 CPU free")
PREEMPTING = WaitReason("preempting", "preempting 1 job(s) (priority); starts when they stop")


def test_a_wait_already_shown_is_left_alone_and_a_new_one_is_written() -> None:
    lane, room = Wait("j", (LANE,), 0), Wait("j", (ROOM,), 0)
    assert shown_already(lane, ("pending", LANE.message))
    assert not shown_already(lane, ("pending", "waiting for admission"))
    assert not shown_already(lane, None)  # not in the snapshot: read it
    # waiting for room is not admission: a pending job stays pending, an admitted one (its
    # place held before) goes back to pending (issue 63.1)
    assert shown_already(room, ("pending", ROOM.message))
    assert not shown_already(room, ("admitted", ROOM.message))
    # a place held for it (a reservation, its victims stopping): a pending job becomes admitted
    # even if its message is the same
    assert not shown_already(room, ("pending", ROOM.message), frozenset({"j"}))
    assert shown_already(room, ("admitted", ROOM.message), frozenset({"j"}))
    making = Wait("j", (PREEMPTING, ROOM), 0)
    assert not shown_already(making, ("pending", PREEMPTING.message))
    assert shown_already(making, ("admitted", PREEMPTING.message))
    assert shown_already(Wait("j", (), 0), ("pending", "anything"))  # nothing to say


@pytest.fixture
def held(server: tuple[TestClient, AppState]) -> list[str]:
    """Four jobs waiting behind a job that holds their queue's only lane."""
    api, _ = server
    api.post("/api/v1/queues", json={"name": "held", "max_running": 1}).raise_for_status()
    spec = {"command": "sleep 600", "queue": "held", "resources": {"cpu": "100m"}}
    api.post("/api/v1/jobs", json=spec).raise_for_status()
    return [api.post("/api/v1/jobs", json=spec).json()["id"] for _ in range(4)]


def test_each_waiting_jobs_spec_is_parsed_once_across_passes_until_the_job_changes(
    server: tuple[TestClient, AppState], held: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, state = server
    state.controller.stop()  # this test's passes only: the loop would quarantine the broken one
    parsed: list[str] = []
    real = snapshots.job_view

    def counting(job: JobRow, *args: Any) -> Any:
        parsed.append(job.id)
        return real(job, *args)

    monkeypatch.setattr(snapshots, "job_view", counting)
    views = snapshots.Parsed()
    now = datetime.now(UTC)

    def waiting() -> set[str]:
        with state.db.reader() as session:
            read = snapshots.read(session, now, protect=lifecycle.protected, parsed=views)
        return {j.id for j in read.snapshot.pending} & set(held)

    assert waiting() == set(held) and set(held) <= set(parsed)
    parsed.clear()
    assert waiting() == set(held) and not set(parsed) & set(held)  # none parsed again

    with state.db.session() as session:  # a state change moves updated_at: read it again
        session.execute(
            update(JobRow).where(JobRow.id == held[0]).values(updated_at=datetime.now(UTC))
        )
    assert waiting() == set(held) and set(parsed) & set(held) == {held[0]}

    with state.db.session() as session:  # a spec stored broken is found on every pass
        session.execute(
            update(JobRow)
            .where(JobRow.id == held[1])
            .values(spec={"command": "x", "replicas": -1}, updated_at=datetime.now(UTC))
        )
    for _ in range(2):
        with state.db.reader() as session:
            read = snapshots.read(session, now, protect=lifecycle.protected, parsed=views)
        assert held[1] in read.invalid and held[1] not in {j.id for j in read.snapshot.pending}


def test_jobs_behind_a_full_lane_are_told_why_and_a_cancel_still_frees_it(
    server: tuple[TestClient, AppState], held: list[str]
) -> None:
    """Several waits told at once in one statement (it once failed every pass with two or more,
    and then nothing was scheduled or cancelled for anyone)."""
    api, _ = server

    def told() -> bool:
        messages = [api.get(f"/api/v1/jobs/{job}").json()["message"] for job in held]
        return all("at most 1" in m for m in messages)

    wait("every held job told its queue is full", told, timeout=60)
    [holder] = [j for j in api.get("/api/v1/jobs").json()["items"] if j["id"] not in held]
    wait_state(api, holder["id"], {"running"}, timeout=60)
    api.post(f"/api/v1/jobs/{holder['id']}/cancel").raise_for_status()
    assert wait_state(api, holder["id"], {"cancelled"}, timeout=60)["state"] == "cancelled"
    assert wait_state(api, held[0], {"running"}, timeout=60)["state"] == "running"


def test_a_job_cancelled_while_a_pass_decided_keeps_its_cancel_message(
    server: tuple[TestClient, AppState],
) -> None:
    """A pass decides on a snapshot read before its write: a job cancelled meanwhile is not
    told it waits for room (its message said so, cancelled, before)."""
    api, state = server
    state.controller.stop()  # this test's pass only
    job = api.post("/api/v1/jobs", json={"command": "sleep 600"}).json()["id"]
    api.post(f"/api/v1/jobs/{job}/cancel").raise_for_status()
    with state.db.session() as session:  # the pass read the job waiting, and writes now
        record_wait(session, Wait(job, (ROOM,), 0), datetime.now(UTC))
    shown = api.get(f"/api/v1/jobs/{job}").json()
    assert shown["state"] == "cancelled"
    assert shown["message"].startswith("cancelled by"), shown["message"]
