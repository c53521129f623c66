"""What the third round of the scheduler's speed-ups (issue 38.2) must not change: the queue's
static scores add up as before, a bind charges what its devices hold, and only the positive
amounts of a demand can make it borrow."""

from __future__ import annotations

from sched_fixtures import H100, at, job, node, profile, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.cycle import CycleState
from aicc.scheduler.order import order, static_scores
from aicc.scheduler.quota import QuotaTree, held_demand, placed_demand
from aicc.scheduler.snapshot import DevicePick, Placement


def test_static_scores_add_up_as_the_per_job_sum() -> None:
    pending = [
        job("a", priority=100, minute=-90, runtime_s=600),
        job("b", priority=1000, minute=-7, gpus=8),
        job("c", priority=0, minute=-3000, runtime_s=86_400, project="prj-b"),
        job("d", priority=2147483647, minute=-1),
    ]
    cycle = CycleState(snapshot([node("n1", gpus=8)], pending, now=at(hours=5)), profile())
    expected = {
        j.id: sum(w * p.score(j, cycle) for p, w in cycle.profile.queue_sort) for j in pending
    }
    assert static_scores(pending, cycle) == expected
    assert {j.id for j in order(cycle)} == {"a", "b", "c", "d"}


def test_a_bind_charges_what_its_devices_hold_by_node_position() -> None:
    nodes = [node("n1", gpus=2), node("n2", gpus=4)]
    cycle = CycleState(snapshot(nodes, []), profile())
    request = job("g", gpus=2, replicas=2).request
    picks = (DevicePick(0, 1000), DevicePick(1, 1000))
    by_name = placed_demand(
        request, [Placement(0, "n1", picks), Placement(1, "n2", picks)], cycle.model_of
    )
    by_position = held_demand(request, [(0, picks), (1, picks)], cycle.cluster.device_model)
    assert by_position == by_name
    assert list(by_position) == list(by_name)  # the same keys in the same order
    assert by_position[H100] == 4000.0


def test_only_positive_amounts_make_a_demand_borrow() -> None:
    quota_tree = QuotaTree(tree({"prj-a": Quota(guaranteed={H100: 2000.0})}))
    assert not quota_tree.borrows("prj-a", {H100: 2000.0, "cpu_milli": -5.0})
    assert quota_tree.borrows("prj-a", {H100: 2001.0})
    quota_tree.add("prj-a", {H100: 2000.0})
    assert not quota_tree.borrows("prj-a", {H100: -1000.0})
    assert quota_tree.over_guarantee("prj-a", [H100]) is False
    quota_tree.add("prj-a", {H100: 1.0})
    assert quota_tree.over_guarantee("prj-a", [H100])
