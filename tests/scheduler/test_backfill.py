"""A reservation for the head job, and EASY backfill: later jobs use reserved space only if their
declared runtime ends before the reservation starts; jobs without max_runtime never do."""

from __future__ import annotations

from sched_fixtures import (
    at,
    bound,
    codes,
    job,
    node,
    nodes_of,
    place,
    profile,
    reserves,
    run,
    snapshot,
    waiting,
)

from aicc.scheduler.framework import Profile
from aicc.scheduler.snapshot import CycleDecision, JobView, NodeView, Snapshot

HOUR = 3600
# the default profile with a reservation (the default itself preempts by service instead)
RESERVING = profile(reserve={"steps": 32})


def blocked_gang(extra_nodes: int = 0) -> tuple[list[NodeView], list[JobView]]:
    """n0 busy for 2 h, n1 half busy for 1 h: a 2 x 8 gang can start in 2 h."""
    nodes = [node("n0"), node("n1")] + [node(f"x{i}") for i in range(extra_nodes)]
    running = [
        place(nodes, job("r0", gpus=8, runtime_s=2 * HOUR), [("n0", range(8))], started=at()),
        place(nodes, job("r1", gpus=4, runtime_s=HOUR), [("n1", range(4))], started=at()),
    ]
    return nodes, running


def head_and(
    *others: JobView, extra_nodes: int = 0, prof: Profile | str = RESERVING
) -> list[CycleDecision]:
    nodes, running = blocked_gang(extra_nodes)
    big = job("big", gpus=8, replicas=2, minute=-10, runtime_s=HOUR)
    if extra_nodes:  # keep the extra nodes busy for long so the gang still waits
        for i in range(extra_nodes):
            running.append(
                place(nodes, job(f"busy{i}", gpus=4, runtime_s=10 * HOUR), [(f"x{i}", range(4))])
            )
    return run(Snapshot(now=at(), nodes=nodes, pending=[big, *others], running=running), prof)


def test_the_head_gang_gets_a_reservation_at_its_earliest_start() -> None:
    decisions = head_and()
    (reserve,) = reserves(decisions)
    assert reserve.job_id == "big" and reserve.at == at(hours=2)
    assert sorted(reserve.nodes) == ["n0", "n1"]
    wait = waiting(decisions, "big")
    assert wait.estimated_start == at(hours=2)


def test_a_job_that_ends_before_the_reservation_backfills_into_it() -> None:
    decisions = head_and(job("short", gpus=4, runtime_s=HOUR // 2))
    assert nodes_of(bound(decisions, "short")) == ["n1"]


def test_a_job_that_would_still_run_waits_for_the_reservation() -> None:
    decisions = head_and(job("long", gpus=4, runtime_s=3 * HOUR), job("forever", gpus=1, minute=1))
    assert codes(decisions, "long") == ["reservation"]
    assert codes(decisions, "forever") == ["reservation"]
    assert "no max_runtime" in waiting(decisions, "forever").reasons[0].message


def test_a_long_job_may_still_use_space_the_reservation_does_not_need() -> None:
    decisions = head_and(job("long", gpus=4, runtime_s=3 * HOUR), extra_nodes=1)
    assert nodes_of(bound(decisions, "long")) == ["x0"]


def test_backfill_shrinks_the_hold_so_two_short_jobs_do_not_overfill_it() -> None:
    decisions = head_and(
        job("s1", gpus=3, runtime_s=600), job("s2", gpus=3, runtime_s=600, minute=1)
    )
    bound(decisions, "s1")
    assert codes(decisions, "s2") == ["resources"]


def test_a_short_job_ending_exactly_at_the_start_may_backfill() -> None:
    decisions = head_and(job("edge", gpus=4, runtime_s=2 * HOUR))
    bound(decisions, "edge")


def test_without_declared_runtimes_the_reservation_start_is_unknown_and_nothing_backfills() -> None:
    nodes = [node("n0"), node("n1")]
    running = [place(nodes, job("r0", gpus=8), [("n0", range(8))])]  # no max_runtime
    pending = [job("big", gpus=8, replicas=2), job("short", gpus=4, runtime_s=60, minute=1)]
    # in submission order (`default` would put the short declared job first)
    decisions = run(snapshot(nodes, pending, running=running), "easy")
    (reserve,) = reserves(decisions)
    assert reserve.at is None
    assert codes(decisions, "short") == ["reservation"]


def test_fifo_without_reservation_lets_small_jobs_take_the_space() -> None:
    decisions = head_and(job("long", gpus=4, runtime_s=3 * HOUR), prof="fifo")
    bound(decisions, "long")
    assert not reserves(decisions)


def test_the_easy_profile_reserves_and_backfills_in_fifo_order() -> None:
    decisions = head_and(
        job("long", gpus=4, runtime_s=3 * HOUR),
        job("short", gpus=4, runtime_s=600, minute=1),
        prof="easy",
    )
    assert codes(decisions, "long") == ["reservation"]
    bound(decisions, "short")


def test_jobs_bound_in_the_same_cycle_count_as_releases() -> None:
    # Nothing runs; a one-hour job takes half the node, then a whole-node job must wait an hour.
    pending = [job("first", gpus=4, runtime_s=HOUR), job("whole", gpus=8, runtime_s=HOUR, minute=1)]
    decisions = run(snapshot([node("n")], pending), RESERVING)
    bound(decisions, "first")
    assert waiting(decisions, "whole").estimated_start == at(hours=1)


def test_without_hold_unknown_a_head_of_unknown_start_is_not_held() -> None:
    nodes = [node("n0"), node("n1")]
    running = [place(nodes, job("r0", gpus=8), [("n0", range(8))])]
    pending = [job("big", gpus=8, replicas=2), job("small", gpus=4, minute=1)]
    relaxed = profile(reserve={"steps": 32, "hold_unknown": False})
    decisions = run(snapshot(nodes, pending, running=running), relaxed)
    assert not reserves(decisions)
    bound(decisions, "small")
