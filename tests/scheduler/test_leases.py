"""Leases in the scheduler (issue 40): a leased node (`NodeView.leased_to`) or device
(`DeviceView.leased_to`) takes only its lessee's replicas, or others' preemptible ones where
the lease lends its idle capacity; and the lessee's job preempts such borrowed work at once."""

from __future__ import annotations

from dataclasses import replace

from sched_fixtures import bound, codes, job, node, nodes_of, place, preempts, run
from sched_fixtures import snapshot as snap

from aicc.scheduler.snapshot import Bind, JobView, NodeView


def leased(name: str, org: str, *, lends: bool = False, gpus: int = 8) -> NodeView:
    n = node(name, gpus=gpus)
    n.leased_to, n.lends = org, lends
    return n


def of(view: JobView, org: str) -> JobView:
    """The request as the snapshot builder gives it while some node is leased."""
    low = view.priority <= 0
    return replace(view, request=replace(view.request, org=org, preemptible=low))


def test_a_leased_node_takes_only_its_lessees_jobs() -> None:
    nodes = [leased("gpu-1", "org-a"), node("gpu-2", gpus=2)]
    others = [of(job(f"b{i}", gpus=2, minute=i, project="prj-b"), "org-b") for i in range(3)]
    mine = of(job("a", gpus=8, minute=5), "org-a")
    decisions = run(snap(nodes, [*others, mine]))
    assert nodes_of(bound(decisions, "b0")) == ["gpu-2"]
    assert codes(decisions, "b1") and codes(decisions, "b2")  # gpu-1 is free but not theirs
    assert nodes_of(bound(decisions, "a")) == ["gpu-1"]


def test_a_lending_lease_takes_others_preemptible_work_only() -> None:
    nodes = [leased("gpu-1", "org-a", lends=True)]
    normal = of(job("normal", gpus=1, project="prj-b"), "org-b")
    low = of(job("low", gpus=1, priority=0, minute=1, project="prj-b"), "org-b")
    assert codes(run(snap(nodes, [normal])), "normal") == ["resources"]
    assert nodes_of(bound(run(snap(nodes, [low])), "low")) == ["gpu-1"]
    closed = [leased("gpu-1", "org-a", lends=False)]
    assert codes(run(snap(closed, [low])), "low") == ["resources"]


def test_the_lessees_job_preempts_borrowed_work_on_its_lease() -> None:
    nodes = [leased("gpu-1", "org-a", lends=True)]
    borrowed = of(job("low", gpus=8, priority=0, project="prj-b"), "org-b")
    # the snapshot builder marks others' work on a lease's capacity as borrowed
    running = replace(place(nodes, borrowed, [("gpu-1", range(8))]), borrowed=True)
    mine = of(job("mine", gpus=8, minute=1), "org-a")
    decisions = run(snap(nodes, [mine], running=[running]))
    assert [p.job_id for p in preempts(decisions)] == ["low"]


def test_leased_devices_go_to_the_lessee_the_rest_to_anyone() -> None:
    n = node("gpu-1", gpus=4)
    for device in n.devices[:2]:
        device.leased_to = "org-a"
    n.device_leases = True
    other = of(job("b", gpus=3, project="prj-b"), "org-b")
    two = of(job("b2", gpus=2, minute=1, project="prj-b"), "org-b")
    decisions = run(snap([n], [other, two]))
    assert codes(decisions, "b")  # only 2 devices are anyone's
    picked = bound(decisions, "b2").placements[0].devices
    assert [p.index for p in picked] == [2, 3]
    mine = of(job("a", gpus=2), "org-a")
    found = bound(run(snap([n], [mine])), "a").placements[0].devices
    assert len(found) == 2


def test_jobs_of_one_shape_from_two_organizations_are_told_apart() -> None:
    # the cycle caches narrowed requests by shape: the organization is part of the shape
    nodes = [leased("gpu-1", "org-a", gpus=16), node("gpu-2")]
    mine = of(job("a", gpus=8), "org-a")
    others = [of(job(f"b{i}", gpus=8, minute=1 + i, project="prj-b"), "org-b") for i in range(2)]
    decisions = run(snap(nodes, [mine, *others]))
    placed = {d.job_id: nodes_of(d) for d in decisions if isinstance(d, Bind)}
    assert all(n != ["gpu-1"] for d, n in placed.items() if d != "a"), placed
