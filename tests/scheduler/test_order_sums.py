"""What the third round of the scheduler's speed-ups (issue 38.2) must not change: the queue's
static scores add up as before, a bind charges what its devices hold, and only the positive
amounts of a demand can make it borrow; and the sixth's: the queue sorted by its scores alone,
then ties by the rest of the key, is the order of the key tuples."""

from __future__ import annotations

import math
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from sched_fixtures import H100, at, job, node, profile, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.cycle import CycleState
from aicc.scheduler.order import in_key_order, order, static_scores
from aicc.scheduler.quota import QuotaTree, held_demand, placed_demand
from aicc.scheduler.snapshot import DevicePick, JobView, Placement


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


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0.0, -0.0, 1.0, 2.5, 100.0, -3.0, 1e-9, math.inf, -math.inf]),
            st.integers(0, 5),  # minutes: many equal submission times
        ),
        max_size=40,
    ),
    st.sets(st.integers(0, 39), max_size=3),
    st.booleans(),
)
def test_the_queue_s_sort_by_scores_is_the_key_tuples_order(
    jobs: list[tuple[float, int]], nominated: set[int], nan: bool
) -> None:
    """The sort by static scores alone, runs of equal scores then by (submitted, id), gives
    `sorted(key=(not nominated, -score, submitted, id))`'s order; with a nominated job or a
    NaN score it is that sort."""
    pending = [job(f"j{i:02d}", minute=minute) for i, (_, minute) in enumerate(jobs)]
    static = {j.id: score for j, (score, _) in zip(pending, jobs, strict=True)}
    if nan and pending:
        static[pending[len(pending) // 2].id] = math.nan
    first = {pending[i].id for i in nominated if i < len(pending)}

    def key(j: JobView) -> tuple[bool, float, datetime, str]:
        return (j.id not in first, -static[j.id], j.submitted_at, j.id)

    ordered = in_key_order(pending, static, first, key)
    assert [j.id for j in ordered] == [j.id for j in sorted(pending, key=key)]
