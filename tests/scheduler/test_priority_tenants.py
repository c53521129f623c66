"""A job's priority orders work within its own project and never preempts another tenant's
(issue 35): across projects only borrowed work, or work over its project's guarantee, is open
to priority; with no quotas set nobody borrows, so priority never crosses projects."""

from __future__ import annotations

from sched_fixtures import by_job, gpus, job, node, place, preempts, run, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.snapshot import Bind

TOP = 2_147_483_647


def test_with_no_quotas_a_huge_priority_never_preempts_another_project() -> None:
    nodes = [node("n", gpus=4)]
    running = [place(nodes, job("b-4gpu", gpus=4, project="prj-b", priority=0), [("n", range(4))])]
    pending = [job("a-top", gpus=4, project="prj-a", priority=TOP)]
    assert not preempts(run(snapshot(nodes, pending, running=running)))


def test_with_no_quotas_priority_still_preempts_within_the_project() -> None:
    nodes = [node("n", gpus=4)]
    running = [place(nodes, job("a-low", gpus=4, project="prj-a", priority=0), [("n", range(4))])]
    pending = [job("a-top", gpus=4, project="prj-a", priority=TOP)]
    (p,) = preempts(run(snapshot(nodes, pending, running=running)))
    assert (p.job_id, p.preemptor, p.reason) == ("a-low", "a-top", "priority")


def test_a_project_with_a_quota_but_no_guarantee_is_not_open_to_others_priority() -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota()})
    nodes = [node("n", gpus=4)]
    running = [place(nodes, job("b-4gpu", gpus=4, project="prj-b", priority=0), [("n", range(4))])]
    pending = [job("a-top", gpus=4, project="prj-a", priority=TOP)]
    assert not preempts(run(snapshot(nodes, pending, running=running, tenants=tenants)))


def test_another_projects_borrowed_work_is_open_to_priority() -> None:
    tenants = tree({"prj-a": Quota(), "prj-b": Quota(guaranteed=gpus(2))})
    nodes = [node("n", gpus=4)]
    running = [
        place(nodes, job("b-own", gpus=2, project="prj-b", priority=0), [("n", range(2))]),
        place(
            nodes,
            job("b-lent", gpus=2, project="prj-b", priority=0, minute=1),
            [("n", range(2, 4))],
            borrowed=True,
        ),
    ]
    pending = [job("a-top", gpus=2, project="prj-a", priority=TOP)]
    (p,) = preempts(run(snapshot(nodes, pending, running=running, tenants=tenants)))
    assert (p.job_id, p.reason) == ("b-lent", "priority")  # never b-own, inside its guarantee


def test_across_projects_a_huge_priority_counts_as_high_in_the_queue() -> None:
    """B's `high` job came first; A's later job names priority 2^31-1: the free device goes to
    B (A's number counts as `high` where the projects meet, and B waited longer)."""
    nodes = [node("n", gpus=1)]
    pending = [
        job("b-high", project="prj-b", priority=1000, minute=0),
        job("a-top", project="prj-a", priority=TOP, minute=1),
    ]
    decisions = run(snapshot(nodes, pending))
    assert isinstance(by_job(decisions)["b-high"], Bind)
    assert not isinstance(by_job(decisions)["a-top"], Bind)


def test_within_its_project_a_priority_number_orders_as_it_is() -> None:
    nodes = [node("n", gpus=1)]
    pending = [
        job("a-5000", project="prj-a", priority=5000, minute=0),
        job("a-top", project="prj-a", priority=TOP, minute=1),
    ]
    decisions = run(snapshot(nodes, pending))
    assert isinstance(by_job(decisions)["a-top"], Bind)
    assert not isinstance(by_job(decisions)["a-5000"], Bind)
