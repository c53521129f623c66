"""What the scheduler's speed-ups (issue 38.2) must not change: a cycle leaves the garbage
collector as it found it (what the cycle left in the oldest generation, a caller's frozen
objects frozen), remembered per-state figures read the same one node at a time as all at once,
and a gang's candidate domains are `heapq.nsmallest`'s."""

from __future__ import annotations

import gc
import heapq
import random
from collections.abc import Iterator

import numpy as np
import pytest
from sched_fixtures import T0, job, node

from aicc.scheduler.allocate import smallest_domains
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


def test_the_cycle_s_objects_move_to_the_oldest_generation_unwalked(collector_on: None) -> None:
    class Linked:
        other: object = None

    with collector_paused():
        garbage = Linked()
        garbage.other = garbage  # a reference cycle made in the block
        made = id(garbage)
        del garbage
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing stays frozen
    assert gc.get_count()[0] < 700  # the young count starts over: no young pass is due
    assert any(id(o) == made for o in gc.get_objects(generation=2))
    assert gc.collect() >= 1  # the next full pass finds the cycle


def test_a_caller_s_frozen_objects_stay_frozen(collector_on: None) -> None:
    mine = [object()]  # a caller's object, frozen before the block
    gc.freeze()
    try:
        assert gc.get_freeze_count() > 0
        with collector_paused():
            pass
        # still in the permanent generation: no generation the collector walks holds it
        # (the freeze count itself moves when another thread frees a frozen object)
        assert not any(o is mine for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is mine for o in gc.get_objects())


@pytest.mark.parametrize("seed", range(200))
def test_the_smallest_domains_are_nsmallest_s(seed: int) -> None:
    rng = random.Random(seed)
    domains = {
        f"pool-{rng.randrange(3)}/rack-{i:03d}": rng.choice([0, 1, 8, 8, 16, rng.randrange(130)])
        for i in range(rng.randrange(0, 60))
    }
    need, k = rng.choice([1, 8, 16, 24, 32]), rng.choice([0, 1, 2, 8, 100])
    expected = heapq.nsmallest(k, ((f, n) for n, f in domains.items() if f >= need))
    assert smallest_domains(domains, need, k) == expected
