"""The cycle: one Bind or Wait per pending job in queue order, the fifo profile is fifo.py, the
snapshot is never changed, the same snapshot gives the same decisions."""

from __future__ import annotations

import copy

import fifo
from hypothesis import given
from sched_fixtures import (
    T0,
    bound,
    by_job,
    job,
    node,
    nodes_of,
    place,
    run,
    snapshot,
    waiting,
)
from test_fifo import jobs_st, nodes_st

from aicc.scheduler.framework import schedule
from aicc.scheduler.snapshot import Bind, JobView, NodeView, QueueView, Snapshot, Wait


@given(nodes_st(), jobs_st())
def test_the_fifo_profile_decides_as_fifo_py(nodes: list[NodeView], jobs: list[JobView]) -> None:
    snap = Snapshot(now=T0, nodes=nodes, pending=jobs)
    old = fifo.schedule(snap)
    new = schedule(snap, "fifo")
    assert [d.job_id for d in new] == [d.job_id for d in old]
    for a, b in zip(old, new, strict=True):
        assert type(a) is type(b)
        if isinstance(a, Bind):
            assert a == b
        else:
            assert isinstance(a, Wait) and isinstance(b, Wait)
            assert a.position == b.position


@given(nodes_st(), jobs_st())
def test_every_profile_answers_each_job_once_and_leaves_the_snapshot(
    nodes: list[NodeView], jobs: list[JobView]
) -> None:
    snap = Snapshot(now=T0, nodes=nodes, pending=jobs)
    before = copy.deepcopy(snap)
    for name in ("default", "fifo", "easy", "spread"):
        decisions = schedule(snap, name)
        answers = [d for d in decisions if isinstance(d, Bind | Wait)]
        assert sorted(d.job_id for d in answers) == sorted(j.id for j in jobs)
        positions = [d.position for d in answers if isinstance(d, Wait)]
        assert positions == list(range(1, len(positions) + 1))
        assert snap == before
        assert schedule(snap, name) == decisions  # deterministic


def test_decisions_follow_queue_order() -> None:
    jobs = [job("c", minute=3), job("a", minute=1, priority=0), job("b", minute=2)]
    decisions = run(snapshot([node("n")], jobs))
    assert [d.job_id for d in decisions] == ["b", "c", "a"]


def test_a_cpu_only_job_binds_without_devices() -> None:
    decisions = run(snapshot([node("n", gpus=0)], [job("cpu", gpus=0, cpu=4000)]))
    assert bound(decisions, "cpu").placements[0].devices == ()


def test_a_model_no_node_has_is_unschedulable() -> None:
    decisions = run(snapshot([node("n")], [job("h20", models=("H20",))]))
    assert waiting(decisions, "h20").reasons[0].code == "unschedulable"


def test_a_job_larger_than_any_node_is_unschedulable_not_waiting_for_resources() -> None:
    decisions = run(
        snapshot([node("n", gpus=8)], [job("big", gpus=16), job("gang", gpus=8, replicas=3)])
    )
    assert waiting(decisions, "big").reasons[0].code == "unschedulable"
    assert waiting(decisions, "gang").reasons[0].code == "unschedulable"


def test_max_jobs_caps_the_work_of_a_cycle() -> None:
    from sched_fixtures import profile

    jobs = [job(f"j{i}", minute=i) for i in range(5)]
    decisions = by_job(run(snapshot([node("n")], jobs), profile(max_jobs=2)))
    assert isinstance(decisions["j0"], Bind) and isinstance(decisions["j1"], Bind)
    for i in range(2, 5):
        w = decisions[f"j{i}"]
        assert isinstance(w, Wait) and w.reasons[0].code == "queue"


def test_jobs_behind_a_lane_full_from_the_start_wait_for_it_and_others_go_on() -> None:
    """A lane full before the cycle stays full through it: its waiting jobs wait for the lane
    (last in the queue's positions), and jobs of other lanes are placed as if they were not
    there, however many wait behind it."""
    nodes = [node("n1", gpus=8)]
    running = [place(nodes, job("r", queue="one"), [("n1", [0])])]
    behind = [job(f"b{i}", queue="one", priority=900, minute=i) for i in range(50)]
    other = job("o", queue="many", minute=60)
    queues = (QueueView("one", max_running=1), QueueView("many", max_running=None))
    decisions = run(snapshot(nodes, [*behind, other], running=running, queues=queues))
    assert nodes_of(bound(decisions, "o")) == ["n1"]
    for i in range(50):
        wait = waiting(decisions, f"b{i}")
        assert [r.message for r in wait.reasons] == ["queue one runs at most 1 jobs at once"]
    positions = [waiting(decisions, f"b{i}").position for i in range(50)]
    assert positions == sorted(positions) and positions[0] > 0
