"""What the scheduler's speed-ups (issue 38.2) must not change: a cycle leaves the garbage
collector as it found it, and remembered per-state figures read the same one node at a time
as all at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest
from sched_fixtures import T0, job, node

from aicc.scheduler.framework import collector_paused, schedule
from aicc.scheduler.placement import ClusterState
from aicc.scheduler.placement.state import FloatArray, IntArray, StateMemo
from aicc.scheduler.snapshot import Bind, DeviceView, NodeView, Snapshot


@pytest.fixture
def collector_on() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    yield
    if not enabled:
        gc.disable()


def test_a_cycle_leaves_the_collector_on_and_decides_the_same(collector_on: None) -> None:
    snapshot = Snapshot(now=T0, nodes=[node("n1", gpus=2)], pending=[job("a"), job("b")])
    decisions = schedule(snapshot)
    assert gc.isenabled()
    assert [type(d) for d in decisions] == [Bind, Bind]
    gc.disable()
    try:
        assert schedule(snapshot) == decisions
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()


def test_the_collector_comes_back_when_a_cycle_raises(collector_on: None) -> None:
    with pytest.raises(RuntimeError), collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("a job broke the cycle")
    assert gc.isenabled()


def test_remembered_figures_one_node_at_a_time_equal_all_at_once() -> None:
    def view(name: str, free: list[int]) -> NodeView:
        devices = [DeviceView(i, "A100", 40_960, f) for i, f in enumerate(free)]
        return NodeView(name, 32_000, 131_072, devices, total_cpu_milli=32_000)

    nodes = [view("a", [1000, 500]), view("b", [1000, 500]), view("c", [0, 1000])]
    computed: list[int] = []

    def compute(rows: IntArray) -> FloatArray:
        computed.extend(rows.tolist())
        state = states[0]
        return np.column_stack([state.dev_free[rows].sum(axis=1), rows * 0.5])

    states = [ClusterState.from_nodes(nodes)]
    together = StateMemo(2).figures(states[0], np.arange(3), compute)
    assert computed == [0, 2]  # a and b are in one state: computed once
    computed.clear()
    memo = StateMemo(2)
    one_by_one = np.vstack([memo.figures(states[0], np.array([r]), compute) for r in range(3)])
    assert computed == [0, 2]
    assert one_by_one.tolist() == together.tolist()
