"""`isolate`: a job that makes a cycle raise is found and set aside; the others are scheduled.

The poisons: a `max_runtime` past what a datetime holds (issue 16's OverflowError in `_bind`;
the job spec now bounds it, but rows stored before may hold one), and a placed job whose start
time is at the end of the calendar (a replica's time from a bad clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sched_fixtures import bound, job, node, place, run, snapshot, waiting

from aicc.scheduler.framework import isolate

NEVER = 10**12  # seconds: T0 plus this is past year 9999


def test_a_waiting_job_whose_runtime_overflows_is_set_aside_and_the_others_bind() -> None:
    jobs = [job(f"ok{i}", minute=i, runtime_s=3600) for i in range(5)]
    jobs.insert(3, job("poison", minute=2.5, runtime_s=NEVER))
    snap = snapshot([node("n", gpus=8)], jobs)
    with pytest.raises(OverflowError):
        run(snap)  # the whole pass fails: no job binds

    clean, blamed = isolate(snap, "default")

    assert list(blamed) == ["poison"] and "OverflowError" in blamed["poison"]
    decisions = run(clean)
    assert {d.job_id for d in decisions} == {f"ok{i}" for i in range(5)}
    for i in range(5):
        bound(decisions, f"ok{i}")


def test_two_poisons_among_many_are_both_found() -> None:
    jobs = [job(f"ok{i}", minute=i, gpus=0, runtime_s=60) for i in range(40)]
    jobs[7] = job("p1", minute=7, gpus=0, runtime_s=NEVER)
    jobs[31] = job("p2", minute=31, gpus=0, runtime_s=NEVER)
    clean, blamed = isolate(snapshot([node("n", cpu=1_000_000)], jobs), "default")
    assert sorted(blamed) == ["p1", "p2"]
    assert len(clean.pending) == 38 and len(run(clean)) == 38


def test_a_placed_job_that_breaks_the_reservation_is_left_out_not_the_waiting_one() -> None:
    nodes = [node("n", gpus=1)]
    broken = place(
        nodes,
        job("old", runtime_s=2 * 86400),
        [("n", [0])],
        started=datetime(9999, 12, 31, tzinfo=UTC),
    )
    head = job("head", minute=1, runtime_s=3600)  # waits for the GPU: a reservation is made
    snap = snapshot(nodes, [head], running=[broken])
    with pytest.raises(OverflowError):
        run(snap, "easy")

    clean, blamed = isolate(snap, "easy")

    assert list(blamed) == ["old"]
    assert [j.id for j in clean.pending] == ["head"] and clean.running == []
    assert waiting(run(clean, "easy"), "head")  # the broken job's view is gone, not its capacity


def test_a_cycle_that_fails_without_any_job_is_not_blamed_on_one() -> None:
    snap = snapshot([node("n")], [job("a")])
    assert isolate(snap, "default") == (snap, {})  # nothing fails: nothing is set aside
