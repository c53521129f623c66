"""A memo carries running jobs' placed demand from one cycle to the next: it changes no decision
and forgets what a changed node no longer supports."""

from __future__ import annotations

import pytest
from sched_fixtures import A100, H100, bound, codes, gpus, job, node, place, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler import memo as memo_module
from aicc.scheduler.framework import schedule
from aicc.scheduler.memo import Memo, held_of
from aicc.sim import synthetic
from aicc.sim.jobs import SimConfig, simulate


class Forgetful(Memo):
    """A memo that keeps nothing: every cycle derives every running job's entry afresh."""

    def held(self, snapshot, model_of):  # type: ignore[no-untyped-def]
        return held_of(snapshot.running, {}, model_of)


@pytest.mark.parametrize("policy", ["default", "las"])
def test_a_simulation_decides_the_same_with_or_without_the_memo(
    policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = synthetic.trace_jobs(150, gpus=16, load=0.9, seed=3)
    kept = simulate(trace, SimConfig(gpus=16, policy=policy))
    monkeypatch.setattr("aicc.sim.jobs.Memo", Forgetful)
    fresh = simulate(trace, SimConfig(gpus=16, policy=policy))
    assert kept == fresh
    assert kept["preemptions"] > 0  # running jobs changed hands, so entries came and went


def test_a_node_whose_devices_changed_model_is_not_counted_as_before() -> None:
    tenants = tree({"prj-a": Quota(max=gpus(4))})
    nodes = [node("n")]
    old = place(nodes, job("old", gpus=3), [("n", [0, 1, 2])])
    new = job("new", gpus=2, models=(H100,), minute=1)
    memo = Memo()
    first = schedule(snapshot(nodes, [new], running=[old], tenants=tenants), memo=memo)
    assert codes(first, "new") == ["quota"]  # 3 + 2 H100 over a max of 4
    # the same running view, but node n now holds A100s: the old job no longer uses H100 quota
    changed = [node("n", model=A100), node("m")]
    for device in changed[0].devices[:3]:
        device.free_milli = 0
    second = schedule(snapshot(changed, [new], running=[old], tenants=tenants), memo=memo)
    assert bound(second, "new").placements[0].node == "m"


def test_the_layout_check_sees_renamed_and_reordered_nodes() -> None:
    a, b = node("a"), node("b")
    assert memo_module._same_layout([a, b], [a, b])
    assert memo_module._same_layout([a, b], [node("a"), node("b")])
    assert not memo_module._same_layout([a, b], [b, a])
    assert not memo_module._same_layout([a, b], [a])
    assert not memo_module._same_layout([a], [node("a", model=A100)])
