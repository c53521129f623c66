"""What a share is worth: the cutting-stock dual against a brute-force LP, its completions, the
loss of a placement, and fgd-plus using it to pack shares that fit together."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from aicc.scheduler.placement import ClusterState, FGDPlusPolicy, TaskMix, choose
from aicc.scheduler.placement.worth import (
    MAX_SIZES,
    MILLI,
    Mix,
    cutting_stock,
    share_mix,
    worth_of,
)
from aicc.scheduler.snapshot import DeviceView, NodeView, ReplicaRequest
from aicc.sim import openb, synthetic

# share_mix() of the openb default trace: 35% of its shares ask for 0.81, 24% for 0.47, ...
OPENB_MIX: Mix = (
    (810, 35), (650, 8), (590, 2), (550, 2), (480, 1), (470, 24), (460, 4), (440, 1), (370, 2),
    (350, 1), (330, 1), (320, 11), (290, 1), (270, 1), (230, 5), (220, 2), (160, 2), (140, 1),
    (110, 1), (50, 1),
)  # fmt: skip


def patterns(sizes: list[int]) -> list[tuple[int, ...]]:
    """Every multiset of the sizes that fits one device (counts per size)."""
    most = [MILLI // s for s in sizes]
    return [
        counts
        for counts in itertools.product(*(range(m + 1) for m in most))
        if any(counts) and sum(c * s for c, s in zip(counts, sizes, strict=True)) <= MILLI
    ]


def share(milli: int) -> ReplicaRequest:
    return ReplicaRequest(1_000, 1_024, accel_count=1, accel_milli=milli)


def test_openb_prices_a_share_by_the_part_of_a_device_it_fills_in_the_best_packing() -> None:
    worth = worth_of(OPENB_MIX)
    price = dict(zip(worth.sizes, worth.values, strict=True))
    assert price[810] == pytest.approx(1)  # alone on its device: too few shares fit beside it
    assert price[650] == pytest.approx(2 / 3) and price[320] == pytest.approx(1 / 3)
    assert price[470] == pytest.approx(1 / 2) and price[230] == pytest.approx(1 / 4)
    assert price[160] == price[110] == price[50] == pytest.approx(0)
    assert worth.best[MILLI] == pytest.approx(1)
    # 0.32 next to a 0.47 strands most of what that device could still earn ...
    assert worth.loss(np.array([530]), 320)[0] == pytest.approx(1 / 2 - 1 / 3)
    # ... on a fresh device or next to a 0.65 it forfeits nothing (0.32 + 0.65 is a pattern)
    assert worth.loss(np.array([MILLI, 350]), 320).tolist() == pytest.approx([0, 0])
    assert worth.loss(np.array([300]), 320)[0] == 0  # does not fit: not this term's business


def test_a_rare_small_share_is_worth_nothing_where_plenty_of_room_waits_for_it() -> None:
    # two 0.81 shares per 0.16 one: every 0.16 fits beside a 0.81, so it costs no device
    worth = worth_of(((810, 2), (160, 1)))
    assert worth.values == pytest.approx((1.0, 0.0))
    assert worth.of(999) == 0  # a size the mix has not seen


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.integers(15, 90).map(lambda m: m * 10), st.integers(1, 30), max_size=4))
def test_prices_solve_the_cutting_stock_dual_exactly(counts: dict[int, int]) -> None:
    """Column generation reaches what an LP over every pattern reaches: no pattern is worth more
    than one device, and the prices are worth as many devices as the best fractional packing."""
    mix: Mix = tuple(sorted(counts.items(), reverse=True)) or ((500, 1),)
    worth = worth_of(mix)
    sizes = [s for s, _ in mix]
    need = np.array([n for _, n in mix], dtype=np.float64)
    every = np.array(patterns(sizes), dtype=np.float64)
    values = np.array(worth.values)
    assert (every @ values <= 1 + 1e-7).all()
    full = linprog(np.ones(len(every)), A_ub=-every.T, b_ub=-need, bounds=(0, None))
    assert need @ values == pytest.approx(full.fun, rel=1e-7)
    packing = cutting_stock(sizes, need.tolist())  # the optimum itself, as the bound reads it
    assert packing is not None and packing.devices == pytest.approx(full.fun, rel=1e-7)
    # best[g]: the most worth of any pattern that fits in g
    for g in (MILLI, 700, 450, 200):
        fits = every @ np.array(sizes) <= g
        assert worth.best[g] == pytest.approx(max((every[fits] @ values).max(initial=0), 0))


def test_the_mix_is_the_workloads_shares_in_percent() -> None:
    workload = TaskMix.from_requests([share(470)] * 3 + [share(810)] * 996 + [share(1000)] * 50)
    assert share_mix(workload) == ((810, 100), (470, 1))  # present sizes keep one step
    assert share_mix(TaskMix.from_requests([share(1000)])) == ()
    many = [share(milli) for milli in range(300, 370)] + [share(990)] * 2  # 71 sizes
    assert len(share_mix(TaskMix.from_requests(many))) == MAX_SIZES
    assert share_mix(TaskMix.from_requests(many))[0] == (990, 3)  # the most common is kept


def node(name: str, free: list[int]) -> NodeView:
    devices = [DeviceView(i, "A100", 40_960, f) for i, f in enumerate(free)]
    return NodeView(name, 32_000, 131_072, devices, total_cpu_milli=32_000)


def test_fgd_plus_opens_a_device_for_a_share_that_a_later_one_completes() -> None:
    """A 0.32 share, a device holding 0.47 (530 free) and a fresh one; the mix has as many 0.65
    shares as 0.32, and whole-device replicas. FGD alone fills the 0.47's device (0.21 left,
    which nothing uses) to keep the fresh device whole; with the packing term the 0.32 opens the
    fresh device, where a 0.65 will complete it."""
    shares = [share(470)] * 4 + [share(650)] * 2 + [share(320)] * 2
    workload = TaskMix.from_requests(shares + [share(1000)] * 8)
    state = ClusterState.from_nodes([node("half", [530]), node("fresh", [MILLI])])
    for packing, expected in ((0.0, "half"), (10.0, "fresh")):
        policy = FGDPlusPolicy(workload, packing=packing)
        chosen = choose(state, share(320), policy, np.random.default_rng(0))
        assert chosen is not None and chosen.node_name == expected


def test_packing_allocates_more_of_a_generated_openb_like_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The openb protocol on 100 generated nodes, five shuffles: fgd-plus with and without its
    packing term (on the real trace: 95.86% -> 96.19% at arrival 100, BENCHMARKS.md)."""
    nodes, pods = synthetic.nodes(100, seed=1), synthetic.pods(500, seed=1)
    at100: dict[float, list[float]] = {0.0: [], 10.0: []}
    for packing, seed in itertools.product(at100, range(42, 47)):
        variant = FGDPlusPolicy(pods.workload(), packing=packing)
        monkeypatch.setattr(openb, "get_policy", lambda name, workload, chosen=variant: chosen)
        trace = openb.simulate(nodes, pods, "fgd-plus", seed)
        at100[packing].append(openb.metrics(trace)["alloc_pct"]["100"])
    assert np.mean(at100[10.0]) > np.mean(at100[0.0]) + 0.2
