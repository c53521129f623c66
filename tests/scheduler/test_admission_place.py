"""Admission means a place exists (issue 63.1; kueue#4329: an 8-GPU job admitted while only 2 x 4
GPUs were free across nodes hung, and smaller jobs waited behind it).

A waiting job is admitted (`snapshot.admitted`) only while a place for all its replicas together
is its own: a reservation holds it, or the jobs it preempted are stopping. A job that passed
quota and lanes but finds no such place is not, and the jobs behind it that fit go first."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sched_fixtures import (
    at,
    bound,
    by_job,
    codes,
    job,
    node,
    nodes_of,
    place,
    reserves,
    run,
    snapshot,
    waiting,
)

from aicc.scheduler.explain import explain
from aicc.scheduler.profiles import PROFILES
from aicc.scheduler.snapshot import CycleDecision, JobView, NodeView, Wait, admitted, reserved

NOW = at(minutes=10)


def half_busy() -> tuple[list[NodeView], list[JobView]]:
    """Two 8-GPU nodes with 4 GPUs free each (a job just started holds the other 4 of each),
    and a small node with 2 free GPUs."""
    nodes = [node("a", gpus=8), node("b", gpus=8), node("c", gpus=2)]
    started = at(minutes=9)
    running = [
        place(nodes, job("r1", gpus=4, minute=9), [("a", [0, 1, 2, 3])], started=started),
        place(nodes, job("r2", gpus=4, minute=9), [("b", [0, 1, 2, 3])], started=started),
    ]
    return nodes, running


def queue() -> list[JobView]:
    """The 8-GPU single replica (it needs 8 on one node), the 2 x 4 gang, then 1-GPU jobs."""
    return [
        job("big", gpus=8, minute=1),
        job("gang", gpus=4, replicas=2, minute=2),
        job("s0", gpus=1, minute=3),
        job("s1", gpus=1, minute=4),
    ]


def admitted_ids(decisions: list[CycleDecision]) -> set[str]:
    held = reserved(decisions)
    return {d.job_id for d in decisions if isinstance(d, Wait) and admitted(d, held)}


def test_kueue_4329_the_8_gpu_job_is_not_admitted_the_gang_and_small_jobs_go() -> None:
    nodes, running = half_busy()
    decisions = run(snapshot(nodes, queue(), running=running, now=NOW))
    assert codes(decisions, "big") == ["resources"]
    assert "big" not in admitted_ids(decisions)
    assert sorted(nodes_of(bound(decisions, "gang"))) == ["a", "b"]  # 2 x 4: placeable
    assert nodes_of(bound(decisions, "s0")) == nodes_of(bound(decisions, "s1")) == ["c"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_admitted_job_has_its_place_and_the_small_jobs_go_past(profile: str) -> None:
    nodes, running = half_busy()
    decisions = run(snapshot(nodes, queue(), running=running, now=NOW), profile)
    for small in ("s0", "s1"):
        bound(decisions, small)
    held = {r.job_id: r for r in reserves(decisions)}
    for job_id in admitted_ids(decisions):
        making = codes(decisions, job_id)[0] == "preempting"
        assert making or job_id in held, (job_id, codes(decisions, job_id))
    if "big" in admitted_ids(decisions):  # easy, spread: the head of the line holds its place
        (one,) = held["big"].placements
        assert len(one.devices) == 8 and held["big"].nodes == (one.node,)
    else:
        assert codes(decisions, "big") == ["resources"]


def test_a_job_that_could_never_fit_is_not_admitted_and_blocks_nothing() -> None:
    nodes = [node("a", gpus=4), node("b", gpus=4), node("c", gpus=2)]
    decisions = run(snapshot(nodes, queue(), now=NOW))
    assert codes(decisions, "big") == ["unschedulable"]
    assert admitted_ids(decisions) == set()
    assert sorted(nodes_of(bound(decisions, "gang"))) == ["a", "b"]
    bound(decisions, "s0")
    bound(decisions, "s1")


def test_a_reservation_admits_the_job_it_holds_space_for() -> None:
    nodes, running = half_busy()
    decisions = run(snapshot(nodes, queue(), running=running, now=NOW), "easy")
    (held,) = reserves(decisions)
    assert held.job_id == "big" and admitted_ids(decisions) == {"big"}
    assert not admitted(waiting(decisions, "gang"), reserved(decisions))


def test_a_job_whose_victims_are_stopping_is_admitted() -> None:
    nodes = [node("a", gpus=8)]
    low = place(nodes, job("low", gpus=8, priority=0), [("a", list(range(8)))], started=NOW)
    high = job("high", gpus=8, priority=1000, minute=5)
    decisions = run(snapshot(nodes, [high], running=[low], now=NOW))
    assert codes(decisions, "high")[0] == "preempting"
    assert admitted_ids(decisions) == {"high"}
    assert set(by_job(decisions)) == {"high"}


def in_one(job_view: JobView, within: str = "rack") -> JobView:
    """The job with the spec's `topology`: its gang kept in one rack (or pool)."""
    return replace(job_view, request=replace(job_view.request, within=within))


def two_racks() -> tuple[list[NodeView], list[JobView]]:
    """Racks r1 (a, b) and r2 (c, d) of 8-GPU nodes; a and c each have 4 GPUs busy: 12 free in
    each rack, but no rack has two nodes with 8 free."""
    nodes = [
        node(n, gpus=8, rack=r) for n, r in (("a", "r1"), ("b", "r1"), ("c", "r2"), ("d", "r2"))
    ]
    started = at(minutes=9)
    running = [
        place(nodes, job("r1", gpus=4, minute=9), [("a", [0, 1, 2, 3])], started=started),
        place(nodes, job("r2", gpus=4, minute=9), [("c", [0, 1, 2, 3])], started=started),
    ]
    return nodes, running


def test_a_gang_kept_in_one_rack_is_admitted_only_where_one_rack_has_room() -> None:
    nodes, running = two_racks()
    kept = in_one(job("kept", gpus=8, replicas=2, minute=1))
    decisions = run(snapshot(nodes, [kept], running=running, now=NOW))
    assert codes(decisions, "kept") == ["gang"]
    assert (
        "no rack has room for its 2 replicas together"
        in waiting(decisions, "kept").reasons[0].message
    )
    assert admitted_ids(decisions) == set()
    # the same gang free to spread goes on b and d, one in each rack
    spread = job("spread", gpus=8, replicas=2, minute=1)
    nodes, running = two_racks()
    decisions = run(snapshot(nodes, [spread], running=running, now=NOW))
    assert sorted(nodes_of(bound(decisions, "spread"))) == ["b", "d"]
    # once a's job ends, rack r1 has room: the kept gang goes there, whole
    nodes, running = two_racks()
    still = [r for r in running if r.id != "r1"]
    for d in nodes[0].devices:
        d.free_milli = 1000
    decisions = run(snapshot(nodes, [kept, job("s0", gpus=1, minute=2)], running=still, now=NOW))
    assert sorted(nodes_of(bound(decisions, "kept"))) == ["a", "b"]
    bound(decisions, "s0")


def test_a_gang_no_rack_could_ever_hold_is_unschedulable_and_blocks_nothing() -> None:
    nodes = [node(n, gpus=8, rack=n) for n in ("a", "b", "c")]  # a rack per node
    kept = in_one(job("kept", gpus=8, replicas=2, minute=1))
    decisions = run(snapshot(nodes, [kept, job("loose", gpus=8, replicas=2, minute=2)], now=NOW))
    assert codes(decisions, "kept") == ["unschedulable"]
    assert "no rack could hold its 2 replicas" in waiting(decisions, "kept").reasons[0].message
    assert len(bound(decisions, "loose").placements) == 2
    pooled = in_one(job("pooled", gpus=8, replicas=2, minute=1), "pool")  # one pool: all nodes
    assert len(bound(run(snapshot(nodes, [pooled], now=NOW)), "pooled").placements) == 2


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_keeps_a_rack_gang_in_one_rack(profile: str) -> None:
    nodes = [node(n, gpus=4, rack=r) for n, r in (("a", "r1"), ("b", "r2"), ("c", "r2"))]
    kept = in_one(job("kept", gpus=4, replicas=2, minute=1))
    decisions = run(snapshot(nodes, [kept], now=NOW), profile)
    assert sorted(nodes_of(bound(decisions, "kept"))) == ["b", "c"]


def test_explain_says_what_each_node_lacks_of_a_job_that_could_never_fit() -> None:
    nodes = [node("a", gpus=4), node("b", gpus=4), node("c", gpus=2, cpu=8_000)]
    found = explain(snapshot(nodes, [job("big", gpus=8, cpu=16_000)], now=NOW), "big")
    assert [r.code for r in found.reasons] == ["unschedulable", "lacks"]
    assert found.reasons[1].message == "a, b: accelerators 4/8; c: CPU 8/16, accelerators 2/8"
    gang = job("gang", gpus=4, replicas=3)
    found = explain(snapshot(nodes, [gang], now=NOW), "gang")
    assert found.reasons[1].message == "a, b: replicas 1/3; c: accelerators 2/4"
    kept = in_one(job("kept", gpus=4, replicas=2))
    racked = [node(n, gpus=4, rack=r) for n, r in (("a", "r1"), ("b", "r2"))]
    found = explain(snapshot(racked, [kept], now=NOW), "kept")
    assert found.reasons[1].message == "rack default/r1, rack default/r2: replicas 1/2"
