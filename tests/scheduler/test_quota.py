"""Quotas on the tenancy tree: guaranteed and max per model and in PFLOPS, borrowing idle
capacity (marked, so it can be reclaimed), ceilings at org and center, queue lanes."""

from __future__ import annotations

from sched_fixtures import (
    A100,
    H100,
    bound,
    codes,
    gpus,
    job,
    node,
    place,
    run,
    snapshot,
    tree,
    waiting,
)

from aicc.core.tenancy import Quota
from aicc.scheduler.quota import QuotaTree, job_demand, pflops_of
from aicc.scheduler.snapshot import Bind, QueueView

H100_PF = pflops_of(H100)
A100_PF = pflops_of(A100)


def test_within_guarantee_is_not_borrowed_and_beyond_it_is() -> None:
    tenants = tree({"prj-a": Quota(guaranteed=gpus(2), max=gpus(8))})
    jobs = [job("first", gpus=2), job("second", gpus=2, minute=1)]
    decisions = run(snapshot([node("n")], jobs, tenants=tenants))
    assert bound(decisions, "first").borrowed is False
    assert bound(decisions, "second").borrowed is True  # idle capacity, beyond the guarantee


def test_the_project_max_is_a_ceiling_even_with_idle_capacity() -> None:
    tenants = tree({"prj-a": Quota(guaranteed=gpus(2), max=gpus(3))})
    jobs = [job("two", gpus=2), job("two-more", gpus=2, minute=1), job("one", minute=2)]
    decisions = run(snapshot([node("n")], jobs, tenants=tenants))
    assert codes(decisions, "two-more") == ["quota"]
    assert "its max is 3000" in waiting(decisions, "two-more").reasons[0].message
    bound(decisions, "one")  # a smaller job of the same project still fits under max


def test_running_jobs_count_against_the_quota() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("old", gpus=3), [("n", [0, 1, 2])])]
    tenants = tree({"prj-a": Quota(max=gpus(4))})
    decisions = run(snapshot(nodes, [job("new", gpus=2)], running=running, tenants=tenants))
    assert codes(decisions, "new") == ["quota"]


def test_the_org_and_center_ceilings_apply_to_all_their_projects() -> None:
    tenants = tree(
        {"prj-a": Quota(), "prj-b": Quota()}, org=Quota(max=gpus(4)), center=Quota(max=gpus(6))
    )
    jobs = [job("a", gpus=3, project="prj-a"), job("b", gpus=2, project="prj-b", minute=1)]
    decisions = run(snapshot([node("n")], jobs, tenants=tenants))
    bound(decisions, "a")
    assert codes(decisions, "b") == ["quota"]  # the org would hold 5 > 4


def test_pflops_quota_counts_model_pflops_times_share() -> None:
    # Two H100s' worth of PFLOPS: a third H100 is refused, a half share of one still fits.
    tenants = tree({"prj-a": Quota(max={"pflops": 2 * H100_PF + 0.5 * H100_PF})})
    nodes = [node("n")]
    running = [place(nodes, job("old", gpus=2), [("n", [0, 1])])]
    jobs = [job("whole", gpus=1), job("half", milli=500, minute=1)]
    decisions = run(snapshot(nodes, jobs, running=running, tenants=tenants))
    assert codes(decisions, "whole") == ["quota"]
    bound(decisions, "half")


def test_quota_narrows_a_job_to_the_models_it_can_afford() -> None:
    # H100 would break the PFLOPS ceiling; the same job on an A100 stays under it.
    tenants = tree({"prj-a": Quota(max={"pflops": 0.5})})
    nodes = [node("h", model=H100), node("a", model=A100)]
    decisions = run(snapshot(nodes, [job("either", models=(H100, A100))], tenants=tenants))
    assert bound(decisions, "either").placements[0].node == "a"


def test_a_project_without_quota_entries_is_not_limited() -> None:
    tenants = tree({"prj-a": Quota(max=gpus(1))})
    decisions = run(snapshot([node("n")], [job("free", gpus=8, project="prj-z")], tenants=tenants))
    bound(decisions, "free")


def test_demand_and_borrowing_rules() -> None:
    quota_tree = QuotaTree(tree({"prj-a": Quota(guaranteed=gpus(2))}))
    demand = job_demand(job("j", gpus=2, replicas=2), H100)
    assert demand[H100] == 4000 and abs(demand["pflops"] - 4 * H100_PF) < 1e-9
    assert quota_tree.borrows("prj-a", demand)
    assert not quota_tree.borrows("prj-a", job_demand(job("k", gpus=2), H100))
    # CPU is governed by nobody here: using it is never borrowing.
    assert not quota_tree.borrows("prj-a", job_demand(job("c", gpus=0, cpu=64_000), None))
    assert quota_tree.within_guarantee("prj-a", job_demand(job("k", gpus=2), H100))


def test_queue_lanes_cap_running_jobs_per_queue() -> None:
    nodes = [node("n")]
    running = [place(nodes, job("r", queue="q1"), [("n", [0])])]
    jobs = [job("a", queue="q1"), job("b", queue="q2", minute=1), job("c", queue="q2", minute=2)]
    queues = (QueueView("q1", max_running=1), QueueView("q2", max_running=1))
    decisions = run(snapshot(nodes, jobs, running=running, queues=queues))
    assert codes(decisions, "a") == ["queue"]
    bound(decisions, "b")
    assert codes(decisions, "c") == ["queue"]  # b took q2's only lane in this very cycle


def test_jobs_within_their_guarantee_go_before_borrowers() -> None:
    # prj-a is past its guarantee; prj-b's later, lower-priority job is within its own.
    from sched_fixtures import profile

    tenants = tree({"prj-a": Quota(guaranteed=gpus(1)), "prj-b": Quota(guaranteed=gpus(4))})
    nodes = [node("n", gpus=4)]
    running = [place(nodes, job("a0", project="prj-a"), [("n", [0])])]
    jobs = [
        job("a1", gpus=3, project="prj-a", priority=1000),
        job("b1", gpus=3, project="prj-b", priority=100, minute=5),
    ]
    guaranteed_first = profile(guaranteed_first=True)
    decisions = run(snapshot(nodes, jobs, running=running, tenants=tenants), guaranteed_first)
    assert [d.job_id for d in decisions][:1] == ["b1"]
    bound(decisions, "b1")


def test_borrowed_binds_are_the_ones_reclaimed_later() -> None:
    """prj-a (guaranteed 4) fills the 8-GPU node; prj-b (guaranteed 4) arrives and takes its
    guarantee back from exactly the borrowed jobs."""
    from sched_fixtures import preempts

    tenants = tree({"prj-a": Quota(guaranteed=gpus(4)), "prj-b": Quota(guaranteed=gpus(4))})
    nodes = [node("n")]
    first = [job(f"a{i}", gpus=2, project="prj-a", minute=i) for i in range(4)]
    decisions = run(snapshot(nodes, first, tenants=tenants))
    borrowed = {d.job_id for d in decisions if isinstance(d, Bind) and d.borrowed}
    assert borrowed == {"a2", "a3"}
    running = []
    for d in decisions:
        assert isinstance(d, Bind)
        pending = next(j for j in first if j.id == d.job_id)
        devices = [x.index for x in d.placements[0].devices]
        running.append(place(nodes, pending, [("n", devices)], borrowed=d.borrowed))
    later = run(
        snapshot(nodes, [job("b", gpus=4, project="prj-b")], running=running, tenants=tenants)
    )
    assert {p.job_id for p in preempts(later)} == {"a2", "a3"}
    assert {p.reason for p in preempts(later)} == {"reclaim"}
