"""Queue order: priority classes, weighted fair share by dominant resource with decayed usage
(Slurm's 2^(-U/S)), and aging so nothing starves. Time comes only from `Snapshot.now`."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sched_fixtures import (
    H100,
    T0,
    at,
    codes,
    job,
    node,
    place,
    profile,
    run,
    snapshot,
    tree,
)

from aicc.core.tenancy import Quota
from aicc.scheduler.plugins.fairshare import accrue, allocations
from aicc.scheduler.snapshot import Bind, CycleDecision, Usage

HOUR = 3600.0
DAY = 24 * HOUR


def order(decisions: list[CycleDecision]) -> list[str]:
    return [d.job_id for d in decisions if isinstance(d, Bind)]


def test_a_project_with_less_recent_usage_goes_first() -> None:
    usage = {"prj-a": Usage(T0, {H100: 4 * 1000 * DAY})}  # four GPUs for a day, just now
    jobs = [job("a", project="prj-a", minute=0), job("b", project="prj-b", minute=5)]
    decisions = run(snapshot([node("n", gpus=1)], jobs, usage=usage))
    assert order(decisions) == ["b"]
    assert codes(decisions, "a") == ["resources", "fairshare"]


def test_projects_interleave_within_one_cycle() -> None:
    jobs = [job(f"a{i}", project="prj-a", minute=i) for i in range(4)]
    jobs += [job(f"b{i}", project="prj-b", minute=10 + i) for i in range(4)]
    decisions = run(snapshot([node("n", gpus=4)], jobs))
    assert sorted(order(decisions)) == ["a0", "a1", "b0", "b1"]


def test_fifo_gives_everything_to_the_earliest_project() -> None:
    jobs = [job(f"a{i}", project="prj-a", minute=i) for i in range(4)]
    jobs += [job(f"b{i}", project="prj-b", minute=10 + i) for i in range(4)]
    decisions = run(snapshot([node("n", gpus=4)], jobs), "fifo")
    assert order(decisions) == ["a0", "a1", "a2", "a3"]


def test_weights_share_in_proportion() -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota()}, weights={"prj-a": 1.0, "prj-b": 3.0})
    jobs = [job(f"a{i}", project="prj-a", minute=i) for i in range(8)]
    jobs += [job(f"b{i}", project="prj-b", minute=10 + i) for i in range(8)]
    decisions = run(snapshot([node("n", gpus=8)], jobs, tenants=tenants))
    bound_ids = order(decisions)
    assert sum(j.startswith("b") for j in bound_ids) == 6
    assert sum(j.startswith("a") for j in bound_ids) == 2


def test_the_dominant_resource_decides() -> None:
    # prj-a holds half the CPU and no GPU; prj-b one GPU of eight: prj-a's share is larger.
    nodes = [node("n", gpus=8, cpu=64_000)]
    running = [
        place(nodes, job("cpu-heavy", gpus=0, cpu=32_000, project="prj-a"), [("n", [])]),
        place(nodes, job("one-gpu", project="prj-b"), [("n", [0])]),
    ]
    jobs = [job("a", project="prj-a", minute=0), job("b", project="prj-b", minute=5)]
    decisions = run(snapshot(nodes, jobs, running=running))
    assert next(d.job_id for d in decisions) == "b"


def test_usage_decays_by_half_every_half_life() -> None:
    week = 7 * DAY
    start = {"p": Usage(T0, {H100: 1000.0})}
    later = accrue(start, now=T0 + timedelta(seconds=week), allocations={}, half_life_s=week)
    assert later["p"].values[H100] == pytest.approx(500.0)
    # Holding a constant amount forever converges to amount x half_life / ln 2.
    held = accrue(
        {"p": Usage(T0, {})},
        now=T0 + timedelta(days=700),
        allocations={"p": {H100: 1000.0}},
        half_life_s=week,
    )
    assert held["p"].values[H100] == pytest.approx(1000.0 * week / math.log(2), rel=1e-6)


def test_old_usage_stops_mattering() -> None:
    usage = {"prj-a": Usage(T0, {H100: 4 * 1000 * DAY})}
    jobs = [job("a", project="prj-a", minute=0), job("b", project="prj-b", minute=5)]
    hot = run(snapshot([node("n", gpus=1)], jobs, usage=usage, now=at(hours=1)))
    assert order(hot) == ["b"]
    half_life = 3600  # with a one-hour half-life, a week later prj-a's usage is gone
    short = profile(
        queue_sort=[
            {"name": "priority"},
            {"name": "fairshare", "weight": 50, "args": {"half_life_s": half_life}},
        ]
    )
    cold = run(snapshot([node("n", gpus=1)], jobs, usage=usage, now=at(hours=24 * 7)), short)
    assert order(cold) == ["a"]


def test_priority_classes_outrank_fair_share() -> None:
    usage = {"prj-a": Usage(T0, {H100: 8 * 1000 * DAY})}
    jobs = [job("a-high", project="prj-a", priority=1000), job("b-normal", project="prj-b")]
    decisions = run(snapshot([node("n", gpus=1)], jobs, usage=usage))
    assert order(decisions) == ["a-high"]


def test_aging_lifts_a_long_wait_past_a_higher_class() -> None:
    old_low = job("old-low", priority=0, minute=0)
    new_normal = job("new-normal", priority=100, project="prj-b", minute=20 * 60)
    early = run(snapshot([node("n", gpus=1)], [old_low, new_normal], now=at(hours=20)))
    late = run(
        snapshot([node("n", gpus=1)], [old_low, new_normal], now=at(hours=20)),
        profile(queue_sort=["priority"]),
    )
    assert order(early) == ["old-low"]  # 20 hours x 10 points > the 100-point class gap
    assert order(late) == ["new-normal"]  # without aging the class wins forever


def test_aging_bounds_how_long_newer_higher_jobs_may_pass() -> None:
    """At 10 points an hour, a normal job (100 points above low) passes a low one only if it
    came less than 10 hours later: the low job's wait is bounded."""
    low = job("low", priority=0, minute=0)
    within = job("normal-9h", priority=100, minute=9 * 60, project="prj-b")
    beyond = job("normal-11h", priority=100, minute=11 * 60, project="prj-b")
    now = at(hours=12)
    assert order(run(snapshot([node("n", gpus=1)], [low, within], now=now))) == ["normal-9h"]
    assert order(run(snapshot([node("n", gpus=1)], [low, beyond], now=now))) == ["low"]


def test_allocations_feed_accrue_as_the_simulator_does() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("r", gpus=2, project="prj-a"), [("n", [0, 1])])]
    held = allocations(running, lambda name, index: H100)
    assert held["prj-a"][H100] == 2000 and held["prj-a"]["cpu_milli"] == 1000
    usage = accrue({"prj-a": Usage(T0, {})}, now=at(hours=1), allocations=held, half_life_s=DAY)
    # An hour of two GPUs, barely decayed with a one-day half-life.
    assert usage["prj-a"].values[H100] == pytest.approx(2000 * HOUR, rel=0.02)
    assert usage["prj-a"].at == at(hours=1)
