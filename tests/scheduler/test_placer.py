"""A profile's placement policy (`placement.policy`, placer.py): one-replica jobs go where the
policy says, over a vector state that stays in step with the cycle's Cluster; the workload is
the snapshot's; everything else keeps the ordinary path."""

from __future__ import annotations

import gc
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import given, settings
from sched_fixtures import (
    A100,
    GIB,
    H100,
    bound,
    codes,
    job,
    mig_device,
    node,
    nodes_of,
    place,
    profile,
    run,
    snapshot,
)
from test_properties import check_capacity, snapshot_st

from aicc.scheduler import placement
from aicc.scheduler.allocate import amount, place_job
from aicc.scheduler.cluster import Amount, Cluster, Statement
from aicc.scheduler.framework import Cycle
from aicc.scheduler.placement import (
    Choice,
    ClusterState,
    Demand,
    TaskMix,
    demand_of,
    get_policy,
)
from aicc.scheduler.placer import PolicyPlacer, snapshot_workload
from aicc.scheduler.profiles import FILTERS, PROFILES, build_profile, get_profile, register_filter
from aicc.scheduler.snapshot import Bind, DevicePick, NodeView, ReplicaRequest, Snapshot

PACKING = {"order": "pack", "sample": 4, "topology": True, "max_domains": 8}  # no policy


def disagreement() -> Snapshot:
    """A 300m share: packing takes the fullest device that holds it (node a, 600m free), which
    leaves 300m that the 400m and 500m shares of the workload cannot use; fgd-plus opens b."""
    nodes = [node("a", gpus=1), node("b", gpus=1), node("c", gpus=1)]
    running = [
        place(nodes, job("r1", milli=400), [("a", [0])]),
        place(nodes, job("r2", milli=500), [("c", [0])]),
        place(nodes, job("r3", milli=500), [("c", [0])]),
    ]
    return snapshot(nodes, [job("j", milli=300)], running=running)


def test_the_default_profile_places_shares_where_fgd_plus_would() -> None:
    snap = disagreement()
    assert get_profile("default").place.policy == "fgd-plus"
    assert nodes_of(bound(run(snap, profile(placement=PACKING)), "j")) == ["a"]
    assert nodes_of(bound(run(snap), "j")) == ["b"]
    # ... which is the placement package's own choice with the snapshot's workload
    policy = get_policy("fgd-plus", workload=snapshot_workload(snap))
    state = ClusterState.from_nodes(snap.nodes)
    choice = policy.choose(state, demand_of(snap.pending[0].request), np.random.default_rng(0))
    assert choice is not None and choice.node_name == "b"


def test_jobs_wait_when_no_node_is_up() -> None:
    """Every node down, so the snapshot holds none (a one-node Ray cluster whose head was
    lost): a CPU job and a share wait under every policy. Before, the policy's vectors of no
    node raised, and the job was quarantined and failed instead of requeued."""
    snap = snapshot([], [job("cpu", gpus=0), job("share", milli=500)])
    for policy in placement.REGISTRY:
        decisions = run(snap, profile(placement={"policy": policy}))
        assert codes(decisions, "cpu") == codes(decisions, "share") == ["unschedulable"], policy


def test_the_workload_is_every_replica_of_the_snapshot_but_mig_slices() -> None:
    nodes = [node("n", gpus=2, devices=[mig_device(0, ("3g.40gb",))])]
    running = [place(nodes, job("r", milli=500, replicas=2), [("n", [0]), ("n", [0])])]
    pending = [job("p", gpus=2), job("q", gpus=2, minute=1), job("m", mig="3g.40gb")]
    workload = snapshot_workload(snapshot(nodes, pending, running=running))
    assert workload is not None
    assert {
        (s.count, s.milli): c for s, c in zip(workload.shapes, workload.counts, strict=True)
    } == {
        (2, 1000): 2.0,
        (1, 500): 2.0,
    }
    assert snapshot_workload(snapshot(nodes, [job("m", mig="3g.40gb")])) is None


def test_a_job_that_accepts_two_models_lets_the_policy_weigh_both() -> None:
    """Model choice prefers the H100 (more PFLOPS) and packing then opens a fresh H100 device;
    the policy fills the A100 device that the share fits exactly, fragmenting nothing."""
    nodes = [node("h", gpus=1, model=H100), node("x", gpus=1, model=A100)]
    running = [place(nodes, job("r", milli=750), [("x", [0])])]
    pending = [job("j", milli=250, models=(H100, A100))]
    snap = snapshot(nodes, pending, running=running)
    assert nodes_of(bound(run(snap, profile(placement=PACKING)), "j")) == ["h"]
    assert nodes_of(bound(run(snap), "j")) == ["x"]


def test_gangs_mig_and_restricted_searches_keep_the_ordinary_path() -> None:
    calls: list[ReplicaRequest] = []

    class Spy(PolicyPlacer):
        def place(self, request: ReplicaRequest) -> tuple[int, tuple[DevicePick, ...]] | None:
            calls.append(request)
            return super().place(request)

    nodes = [
        node("n0", rack="r0"),
        node("n1", rack="r0"),
        node("m", devices=[mig_device(0, ("1g.10gb",))]),
    ]
    cluster = Cluster(nodes)
    cluster.placer = Spy("fgd-plus", cluster, lambda: None)
    config = get_profile("default").place

    def trial(request: ReplicaRequest, replicas: int, only: list[int] | None = None) -> list[int]:
        statement = Statement(cluster)
        spots, _ = place_job(cluster, statement, request, H100, replicas, config, only)
        statement.discard()
        assert spots is not None
        return [i for i, _ in spots]

    assert trial(ReplicaRequest(1000, GIB, 8, models=(H100,)), 2) == [0, 1]  # topology first
    assert trial(ReplicaRequest(1000, GIB, 1, models=(H100,), mig_profile="1g.10gb"), 1) == [2]
    share = ReplicaRequest(1000, GIB, 1, 500)
    assert trial(share, 1, only=[1]) == [1]  # backfill's search restricted to reserved nodes
    assert not calls
    trial(share, 1)
    assert calls == [share]


def test_no_share_goes_to_a_node_whose_engine_gives_whole_devices_only() -> None:
    whole_only = replace(node("w", gpus=1), shares=False)
    decisions = run(snapshot([whole_only, node("s", gpus=1)], [job("j", milli=500)]))
    assert nodes_of(bound(decisions, "j")) == ["s"]
    decisions = run(snapshot([whole_only], [job("j", milli=500)]))
    assert codes(decisions, "j")[0] in ("resources", "unschedulable")


def test_a_registered_filter_still_has_the_last_word() -> None:
    register_filter("not-b", lambda args: lambda n, r: n.name != "b")
    try:
        prof = build_profile({**PROFILES["default"], "filter": ["not-b"]})
        assert nodes_of(bound(run(disagreement(), prof), "j")) == ["a"]
    finally:
        del FILTERS["not-b"]


def assert_in_step(cluster: Cluster, placer: PolicyPlacer) -> None:
    """The placer's vector state equals one built afresh from the Cluster's nodes."""
    mirror, fresh = placer.state(), ClusterState.from_nodes(cluster.nodes)
    for field in ("cpu_free", "mem_free", "dev_free", "dev_mem_free"):
        assert (getattr(mirror, field) == getattr(fresh, field)).all(), field
    assert (mirror.cpu_free >= 0).all() and (mirror.mem_free >= 0).all()
    assert (mirror.dev_free >= 0).all() and (mirror.dev_mem_free >= 0).all()


def test_the_vector_state_follows_binds_rollbacks_and_discards() -> None:
    nodes = [
        node("a", gpus=2),
        node("b", gpus=2, model=A100),
        node("m", devices=[mig_device(0, ("3g.40gb", "2g.20gb"))]),
        NodeView("w", 8000, 8 * GIB, [], shares=False),
    ]
    pending = [job(f"s{i}", milli=300, accel_memory=10 * GIB, minute=i) for i in range(5)]
    pending += [job("g", gpus=1, minute=9), job("cpu", gpus=0, minute=10)]
    cycle = Cycle(snapshot(nodes, pending), get_profile("default"))
    placer = cycle.cluster.placer
    assert isinstance(placer, PolicyPlacer)
    for j in pending[:3]:
        cycle.offer(j)
    assert_in_step(cycle.cluster, placer)  # built lazily, then followed three binds
    statement = Statement(cycle.cluster)
    mark = statement.mark()
    share = ReplicaRequest(1000, GIB, 1, 500, 10 * GIB)
    for _ in range(3):
        spot = placer.place(share)
        assert spot is not None
        statement.take(spot[0], amount(share, spot[1]))
    assert_in_step(cycle.cluster, placer)
    statement.rollback(mark)  # a trial undone: a gang that did not fit, a what-if
    assert_in_step(cycle.cluster, placer)
    mig = Amount(1000, GIB, (DevicePick(0, 428, 40 * GIB, mig_slice=0),))
    statement.take(2, mig)  # a MIG slice changes CPU and memory only
    statement.give(0, Amount(0, 0, (DevicePick(0, 300, 10 * GIB),)))  # a reservation's replay
    assert_in_step(cycle.cluster, placer)
    statement.discard()
    assert_in_step(cycle.cluster, placer)
    for j in pending[3:]:
        cycle.offer(j)
    assert_in_step(cycle.cluster, placer)
    where = {job.id: spots for _, job, spots, _ in cycle.bound}
    assert len(where) == len(pending)


@settings(max_examples=60, deadline=None)
@given(snapshot_st())
def test_a_policy_profile_never_over_commits_and_stays_in_step(snap: Snapshot) -> None:
    prof = get_profile("default")
    cycle = Cycle(snap, prof)
    decisions = cycle.run()
    check_capacity(snap, decisions)
    placer = cycle.cluster.placer
    assert isinstance(placer, PolicyPlacer)
    if placer._state is not None:  # the policy was asked at least once
        assert_in_step(cycle.cluster, placer)


@pytest.mark.parametrize("name", ["fgd", "fgd-plus", "best-fit", "random"])
def test_any_placement_policy_can_place_a_profiles_replicas(name: str) -> None:
    prof = build_profile({**PROFILES["default"], "placement": {**PACKING, "policy": name}})
    decisions = run(snapshot([node("a", gpus=2), node("b", gpus=2)], [job("j", milli=500)]), prof)
    assert len(nodes_of(bound(decisions, "j"))) == 1


def test_an_unknown_policy_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown placement policy 'fgd-plsu'; one of .*fgd-plus"):
        build_profile({"name": "x", "placement": {"policy": "fgd-plsu"}})
    with pytest.raises(ValueError, match="unknown placement keys: polcy"):
        build_profile({"name": "x", "placement": {"polcy": "fgd-plus"}})
    cluster = Cluster([node("a")])
    with pytest.raises(ValueError, match="unknown placement policy"):
        PolicyPlacer("fgd++", cluster, lambda: None)


def test_a_new_task_mix_reweights_the_cached_scores_without_changing_them() -> None:
    """`set_workload` keeps fgd-plus's cached parts when the mix has no new shape; the choice is
    the one a policy built afresh for that mix makes."""
    nodes = [node(f"n{i}", gpus=4) for i in range(6)]
    shapes = [ReplicaRequest(2000, 8 * GIB, 1, m) for m in (200, 300, 500, 700)]
    shapes += [ReplicaRequest(16_000, 64 * GIB, 2), ReplicaRequest(4000, 8 * GIB)]
    cluster = Cluster(nodes)
    placer = PolicyPlacer("fgd-plus", cluster, lambda: None)
    cluster.placer = placer
    rng = np.random.default_rng(7)
    counts = np.ones(len(shapes))
    for _ in range(60):
        counts[rng.integers(len(shapes))] += 1
        request = shapes[int(rng.integers(len(shapes)))]
        workload = TaskMix.from_counts(zip(shapes, counts.tolist(), strict=True))
        placer.set_workload(workload)
        spot = placer.place(request)
        fresh_state = ClusterState.from_nodes(cluster.nodes)
        fresh_state.tie_order = np.arange(fresh_state.size)
        fresh = get_policy("fgd-plus", workload=workload).choose(
            fresh_state, demand_of(request), rng
        )
        assert (spot is None) == (fresh is None)
        if spot is None or fresh is None:
            continue
        assert (spot[0], spot[1]) == (fresh.node, fresh.devices)
        Statement(cluster).take(spot[0], amount(request, spot[1]))
    assert_in_step(cluster, placer)


def test_the_policy_scores_the_clusters_own_vectors_which_what_ifs_leave_alone() -> None:
    nodes = [node("a", gpus=2), node("b", gpus=2)]
    pending = [job("s", milli=300, accel_memory=10 * GIB), job("t", milli=300, minute=1)]
    cycle = Cycle(snapshot(nodes, pending), get_profile("default"))
    placer = cycle.cluster.placer
    assert isinstance(placer, PolicyPlacer)
    cycle.offer(pending[0])
    vectors = cycle.cluster.vectors()
    assert placer.state() is vectors  # one record of the free capacity, the Cluster's
    versions = vectors.version.copy()
    with cycle.cluster.what_if():  # a preemption's search: taken and given back
        statement = Statement(cycle.cluster)
        statement.take(1, Amount(1000, GIB, (DevicePick(0, 1000),)))
        statement.discard()
    assert (vectors.version == versions).all()  # no score cache was made stale for nothing
    cycle.offer(pending[1])
    assert_in_step(cycle.cluster, placer)


def test_the_state_is_built_only_when_the_policy_is_first_asked() -> None:
    nodes = [node("n", devices=[mig_device(0, ("1g.10gb",))])]
    cycle = Cycle(snapshot(nodes, [job("m", mig="1g.10gb")]), get_profile("default"))
    cycle.run()
    placer = cycle.cluster.placer
    assert isinstance(placer, PolicyPlacer) and placer._state is None
    assert get_profile("fifo").place.policy is None


@dataclass(frozen=True)
class LastFit:
    """A placement policy written for this test: the last node where the replica fits."""

    name: str = "last-fit"

    def choose(
        self, state: ClusterState, demand: Demand, rng: np.random.Generator
    ) -> Choice | None:
        nodes, ok = state.feasible(demand)
        candidates = np.flatnonzero(nodes)
        if len(candidates) == 0:
            return None
        node = int(candidates[-1])
        column = int(np.flatnonzero(ok[node])[-1]) if demand.shared else None
        return state.choice(node, demand, column)


def test_a_new_placement_policy_is_one_registry_line() -> None:
    placement.REGISTRY["last-fit"] = lambda workload: LastFit()
    try:
        config = {**PROFILES["default"], "placement": {"policy": "last-fit", "order": "pack"}}
        decisions = run(
            snapshot([node("a"), node("b"), node("c")], [job("j")]), build_profile(config)
        )
    finally:
        del placement.REGISTRY["last-fit"]
    assert nodes_of(bound(decisions, "j")) == ["c"]


def test_a_cycle_leaves_no_reference_cycle_behind() -> None:
    """Everything a cycle builds (its cluster, the placer, their vectors and score caches) is
    freed by reference counting when the cycle is dropped: the cycle runs with the collector
    paused and hands its objects to the oldest generation, whose full passes are rare, so a
    cycle of references there (the placer held its cluster, which holds it) kept every
    cycle's cluster and grew a whole-trace simulation to 24 GB."""
    nodes = [node(f"n{i}", gpus=4) for i in range(4)]
    running = place(nodes, job("r", gpus=2), [("n0", [0, 1])])
    snap = snapshot(nodes, [job(f"j{i}", gpus=1 + i % 2) for i in range(6)], running=[running])
    assert profile().place.policy is not None  # the cycle has a placer
    gc.collect()
    gc.disable()
    try:
        assert any(isinstance(d, Bind) for d in run(snap))
        assert gc.collect() == 0  # nothing unreachable that only the collector could free
    finally:
        gc.enable()
