"""First-come first-served with first-fit placement, and the fit filter every policy shares."""

from __future__ import annotations

import copy
import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from fifo import schedule
from hypothesis import given
from hypothesis import strategies as st

from aicc.scheduler.fit import fits_empty
from aicc.scheduler.snapshot import (
    Bind,
    Decision,
    DeviceView,
    JobView,
    NodeView,
    ReplicaRequest,
    Snapshot,
    Wait,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
GIB = 1024
H100 = "H100-SXM"
A100 = "A100-80GB"


def device(
    index: int, *, model: str = H100, free_milli: int = 1000, used_mib: int = 0
) -> DeviceView:
    return DeviceView(
        index, model, 80 * GIB, free_milli=free_milli, free_memory_mib=80 * GIB - used_mib
    )


def node(
    name: str,
    *,
    gpus: int = 0,
    model: str = H100,
    cpu: int = 64_000,
    memory: int = 512 * GIB,
    schedulable: bool = True,
    devices: list[DeviceView] | None = None,
) -> NodeView:
    return NodeView(
        name=name,
        free_cpu_milli=cpu,
        free_memory_mib=memory,
        devices=devices if devices is not None else [device(i, model=model) for i in range(gpus)],
        schedulable=schedulable,
        total_cpu_milli=cpu,
        total_memory_mib=memory,
    )


def job(
    job_id: str,
    *,
    replicas: int = 1,
    cpu: int = 1000,
    memory: int = 1024,
    gpus: int = 0,
    milli: int | None = None,
    accel_memory: int | None = None,
    models: tuple[str, ...] | None = None,
    priority: int = 100,
    minute: int = 0,
) -> JobView:
    request = ReplicaRequest(
        cpu_milli=cpu,
        memory_mib=memory,
        accel_count=1 if milli is not None else gpus,
        accel_milli=milli,
        accel_memory_mib=accel_memory,
        models=models,
    )
    return JobView(job_id, replicas, request, priority, T0 + timedelta(minutes=minute))


def run(nodes: list[NodeView], jobs: list[JobView]) -> dict[str, Decision]:
    return {d.job_id: d for d in schedule(Snapshot(now=T0, nodes=nodes, pending=jobs))}


def bound(decision: Decision) -> Bind:
    assert isinstance(decision, Bind), decision
    return decision


def waiting(decision: Decision) -> Wait:
    assert isinstance(decision, Wait), decision
    return decision


def test_higher_priority_goes_first_even_when_submitted_later() -> None:
    decisions = run(
        [node("a", gpus=8)],
        [job("early-low", gpus=8, priority=0), job("late-high", gpus=8, priority=1000, minute=5)],
    )
    assert isinstance(decisions["late-high"], Bind)
    assert waiting(decisions["early-low"]).reasons[0].code == "resources"


def test_equal_priority_goes_in_submission_order() -> None:
    decisions = run(
        [node("a", gpus=8)],
        [job("second", gpus=8, minute=2), job("first", gpus=8, minute=1)],
    )
    assert isinstance(decisions["first"], Bind)
    assert isinstance(decisions["second"], Wait)


def test_decisions_come_in_queue_order() -> None:
    jobs = [job("c", minute=3), job("a", minute=1, priority=0), job("b", minute=2)]
    order = [d.job_id for d in schedule(Snapshot(now=T0, nodes=[node("n")], pending=jobs))]
    assert order == ["b", "c", "a"]


def test_first_fit_takes_the_first_node_that_fits() -> None:
    decisions = run([node("small", cpu=500), node("a"), node("b")], [job("j", cpu=2000)])
    assert [p.node for p in bound(decisions["j"]).placements] == ["a"]


def test_later_jobs_see_what_earlier_ones_took() -> None:
    decisions = run(
        [node("a", cpu=4000), node("b", cpu=4000)],
        [job(f"j{i}", cpu=3000, minute=i) for i in range(3)],
    )
    assert bound(decisions["j0"]).placements[0].node == "a"
    assert bound(decisions["j1"]).placements[0].node == "b"
    assert isinstance(decisions["j2"], Wait)


def test_a_gang_binds_whole_across_nodes() -> None:
    decisions = run(
        [node("a", gpus=4), node("b", gpus=4), node("c", gpus=4)], [job("gang", replicas=3, gpus=4)]
    )
    placements = bound(decisions["gang"]).placements
    assert [(p.replica, p.node) for p in placements] == [(0, "a"), (1, "b"), (2, "c")]
    assert all(len(p.devices) == 4 for p in placements)


def test_a_gang_that_does_not_fit_whole_waits_and_binds_nothing() -> None:
    decisions = run(
        [node("a", gpus=4), node("b", gpus=4)],
        [job("gang", replicas=3, gpus=4), job("small", gpus=4, minute=1)],
    )
    wait = waiting(decisions["gang"])
    assert wait.reasons[0].code == "gang"
    assert "2 of 3" in wait.reasons[0].message
    # The two replicas that fitted were not kept: the next job gets the first node's devices.
    small = bound(decisions["small"]).placements[0]
    assert small.node == "a"
    assert [d.index for d in small.devices] == [0, 1, 2, 3]


def test_a_gang_with_no_replica_placeable_waits_for_resources() -> None:
    wait = waiting(run([node("a", gpus=2)], [job("gang", replicas=2, gpus=4)])["gang"])
    assert wait.reasons[0].code == "resources"


def test_a_share_packs_onto_the_fullest_device_that_holds_it() -> None:
    devices = [
        device(0),
        device(1, free_milli=300),
        device(2, free_milli=600),
        device(3, free_milli=200),  # fuller, but too full for 250
    ]
    decisions = run([node("a", devices=devices)], [job("share", milli=250)])
    pick = bound(decisions["share"]).placements[0].devices
    assert [(d.index, d.milli) for d in pick] == [(1, 250)]


def test_a_share_needs_the_device_memory_it_asks_for() -> None:
    devices = [device(0), device(1, free_milli=500, used_mib=70 * GIB)]
    decisions = run([node("a", devices=devices)], [job("share", milli=250, accel_memory=20 * GIB)])
    (pick,) = bound(decisions["share"]).placements[0].devices
    assert (pick.index, pick.milli, pick.memory_mib) == (0, 250, 20 * GIB)


def test_shares_fill_one_device_before_the_next() -> None:
    decisions = run([node("a", gpus=2)], [job(f"s{i}", milli=400, minute=i) for i in range(4)])
    indices = [bound(decisions[f"s{i}"]).placements[0].devices[0].index for i in range(4)]
    assert indices == [0, 0, 1, 1]


def test_shares_without_device_memory_do_not_use_up_the_device_memory() -> None:
    """As the store counts it: a share reserves only the device memory it declares."""
    jobs = [
        job("plain-1", milli=300),
        job("plain-2", milli=300, minute=1),
        job("with-memory", milli=300, accel_memory=40 * GIB, minute=2),
    ]
    decisions = run([node("a", gpus=1)], jobs)
    for job_id in ("plain-1", "plain-2", "with-memory"):
        assert bound(decisions[job_id]).placements[0].devices[0].index == 0


def test_whole_devices_go_to_free_devices_only() -> None:
    devices = [device(0), device(1, free_milli=999), device(2), device(3, free_milli=0)]
    decisions = run(
        [node("a", devices=devices)], [job("two", gpus=2), job("one-more", gpus=1, minute=1)]
    )
    picks = bound(decisions["two"]).placements[0].devices
    assert [(d.index, d.milli) for d in picks] == [(0, 1000), (2, 1000)]
    assert isinstance(decisions["one-more"], Wait)


def test_a_full_share_is_a_whole_device() -> None:
    devices = [device(0, free_milli=900), device(1)]
    decisions = run([node("a", devices=devices)], [job("full", milli=1000)])
    assert [d.index for d in bound(decisions["full"]).placements[0].devices] == [1]


def test_only_acceptable_models() -> None:
    nodes = [node("a100s", gpus=8, model=A100), node("h100s", gpus=8, model=H100)]
    decisions = run(nodes, [job("h", gpus=1, models=("h100-sxm",)), job("any", gpus=1)])
    assert bound(decisions["h"]).placements[0].node == "h100s"
    assert bound(decisions["any"]).placements[0].node == "a100s"
    none_left = run(nodes, [job("x", gpus=1, models=("H20",))])
    assert isinstance(none_left["x"], Wait)


def test_a_cordoned_node_is_skipped() -> None:
    decisions = run(
        [node("cordoned", gpus=8, schedulable=False), node("b", gpus=8)], [job("j", gpus=1)]
    )
    assert bound(decisions["j"]).placements[0].node == "b"
    alone = run([node("cordoned", gpus=8, schedulable=False)], [job("j", gpus=1)])
    assert isinstance(alone["j"], Wait)


def test_wait_positions_count_up_past_the_jobs_that_bind() -> None:
    jobs = [
        job("big-1", gpus=16, minute=0),
        job("fits", gpus=1, minute=1),
        job("big-2", gpus=16, minute=2),
        job("gang", replicas=2, gpus=8, minute=3),
    ]
    decisions = run([node("a", gpus=8)], jobs)
    assert waiting(decisions["big-1"]).position == 1
    assert isinstance(decisions["fits"], Bind)
    assert waiting(decisions["big-2"]).position == 2
    assert waiting(decisions["gang"]).position == 3


def test_the_snapshot_is_left_as_it_was() -> None:
    nodes = [node("a", gpus=2)]
    before = copy.deepcopy(nodes)
    run(nodes, [job("j", gpus=2, cpu=8000)])
    assert nodes == before


def test_fits_empty_ignores_what_is_in_use() -> None:
    busy = node("a", devices=[device(0, free_milli=0), device(1, free_milli=0)], cpu=0)
    busy.total_cpu_milli = 64_000
    assert fits_empty(busy, ReplicaRequest(cpu_milli=2000, memory_mib=1024, accel_count=2))
    assert not fits_empty(busy, ReplicaRequest(cpu_milli=2000, memory_mib=1024, accel_count=3))


# Property tests: random clusters (some devices partly used) and random queues.

MODELS = (H100, A100)


@st.composite
def devices_st(draw: st.DrawFn) -> list[DeviceView]:
    out = []
    for index in range(draw(st.integers(min_value=0, max_value=8))):
        memory = draw(st.sampled_from([16, 40, 80])) * GIB
        free_milli = draw(st.sampled_from([1000, 1000, 750, 500, 100, 0]))
        used = 0 if free_milli == 1000 else draw(st.integers(min_value=0, max_value=memory))
        out.append(
            DeviceView(
                index,
                draw(st.sampled_from(MODELS)),
                memory,
                free_milli=free_milli,
                free_memory_mib=memory - used,
            )
        )
    return out


@st.composite
def nodes_st(draw: st.DrawFn) -> list[NodeView]:
    nodes = []
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        cpu = draw(st.integers(min_value=0, max_value=32)) * 1000
        memory = draw(st.integers(min_value=0, max_value=64)) * GIB
        nodes.append(
            NodeView(
                name=f"n{i}",
                free_cpu_milli=cpu,
                free_memory_mib=memory,
                devices=draw(devices_st()),
                schedulable=draw(st.booleans() | st.just(True)),
                total_cpu_milli=cpu,
                total_memory_mib=memory,
            )
        )
    return nodes


@st.composite
def jobs_st(draw: st.DrawFn) -> list[JobView]:
    jobs = []
    for i in range(draw(st.integers(min_value=1, max_value=10))):
        kind = draw(st.sampled_from(["cpu", "whole", "share"]))
        request = ReplicaRequest(
            cpu_milli=draw(st.integers(min_value=1, max_value=16)) * 500,
            memory_mib=draw(st.integers(min_value=1, max_value=32)) * GIB,
            accel_count=draw(st.integers(min_value=1, max_value=8)) if kind == "whole" else 0,
        )
        if kind == "share":
            request = ReplicaRequest(
                cpu_milli=request.cpu_milli,
                memory_mib=request.memory_mib,
                accel_count=1,
                accel_milli=draw(st.integers(min_value=1, max_value=1000)),
                accel_memory_mib=draw(st.none() | st.integers(min_value=1, max_value=80 * GIB)),
            )
        models = draw(st.none() | st.lists(st.sampled_from(MODELS), min_size=1, max_size=2))
        if models is not None:
            request = dataclasses.replace(request, models=tuple(models))
        jobs.append(
            JobView(
                id=f"j{i}",
                replicas=draw(st.integers(min_value=1, max_value=4)),
                request=request,
                priority=draw(st.sampled_from([0, 100, 1000])),
                submitted_at=T0 + timedelta(seconds=draw(st.integers(0, 3600))),
            )
        )
    return jobs


@given(nodes_st(), jobs_st())
def test_decisions_never_overcommit_and_gangs_bind_whole(
    nodes: list[NodeView], jobs: list[JobView]
) -> None:
    snapshot = Snapshot(now=T0, nodes=nodes, pending=jobs)
    decisions = schedule(snapshot)
    by_id = {j.id: j for j in jobs}
    assert sorted(d.job_id for d in decisions) == sorted(by_id)

    by_node = {n.name: n for n in nodes}
    cpu: dict[str, int] = defaultdict(int)
    memory: dict[str, int] = defaultdict(int)
    milli: dict[tuple[str, int], int] = defaultdict(int)
    device_memory: dict[tuple[str, int], int] = defaultdict(int)
    whole: dict[tuple[str, int], int] = defaultdict(int)
    picks_on: dict[tuple[str, int], int] = defaultdict(int)
    for decision in decisions:
        if isinstance(decision, Wait):
            assert decision.reasons
            continue
        request = by_id[decision.job_id].request
        # No partial gang: exactly one placement per replica.
        assert [p.replica for p in decision.placements] == list(
            range(by_id[decision.job_id].replicas)
        )
        for placement in decision.placements:
            host = by_node[placement.node]
            assert host.schedulable
            cpu[placement.node] += request.cpu_milli
            memory[placement.node] += request.memory_mib
            assert len(placement.devices) == (
                1 if request.accel_milli is not None else request.accel_count
            )
            devices = {d.index: d for d in host.devices}
            for pick in placement.devices:
                key = (placement.node, pick.index)
                assert request.models is None or devices[pick.index].model in request.models
                milli[key] += pick.milli
                picks_on[key] += 1
                whole[key] += pick.milli == 1000
                device_memory[key] += pick.memory_mib or 0

    for name, used in cpu.items():
        assert used <= by_node[name].free_cpu_milli
    for name, used in memory.items():
        assert used <= by_node[name].free_memory_mib
    for (name, index), used in milli.items():
        dev = next(d for d in by_node[name].devices if d.index == index)
        assert used <= dev.free_milli <= 1000
        assert device_memory[(name, index)] <= (dev.free_memory_mib or 0)
        if whole[(name, index)]:
            # A whole device is never shared, and only a free device is taken whole.
            assert picks_on[(name, index)] == 1
            assert dev.free_milli == 1000


@given(nodes_st(), jobs_st())
def test_scheduling_is_a_pure_function_of_the_snapshot(
    nodes: list[NodeView], jobs: list[JobView]
) -> None:
    snapshot = Snapshot(now=T0, nodes=nodes, pending=jobs)
    before = copy.deepcopy(snapshot)
    first = schedule(snapshot)
    assert snapshot == before
    assert schedule(snapshot) == first
