"""One placement path: every replica goes through the profile's chain (`allocate.place_replica`),
the vector policy where it covers the replica, else the `indexed` walk (`indexed.py`), whose
order, sample, scorers and filters come from the profile."""

from __future__ import annotations

from sched_fixtures import GIB, H100, mig_device, node

from aicc.scheduler.allocate import PlaceConfig, place_replica
from aicc.scheduler.cluster import Cluster
from aicc.scheduler.indexed import IndexedPolicy
from aicc.scheduler.placer import PolicyPlacer
from aicc.scheduler.plugins.score import Packing, Spread
from aicc.scheduler.profiles import get_profile
from aicc.scheduler.snapshot import DevicePick, ReplicaRequest

SHARE = ReplicaRequest(1000, GIB, 1, 500)


def test_each_profile_configures_its_indexed_walk() -> None:
    packing, spread = get_profile("default").place, get_profile("spread").place
    assert packing.indexed == IndexedPolicy("pack", packing.sample, packing.scorers, ())
    assert spread.indexed.order == "spread" and spread.indexed.name == "indexed"
    assert [type(s) for s, _ in spread.indexed.scorers] == [Spread]


def test_the_walk_scores_the_first_sample_that_fit_and_keeps_the_first_on_a_tie() -> None:
    # fullest first: n1 (4 free devices), then n2 (6), then n0 (8)
    nodes = [node("n0"), node("n1", gpus=4), node("n2", gpus=6)]
    cluster = Cluster(nodes)
    whole = ReplicaRequest(1000, GIB, 2, models=(H100,))
    packing = IndexedPolicy("pack", 4, ((Packing(), 1.0),))
    spread = IndexedPolicy("pack", 2, ((Spread(), 1.0),))
    first = IndexedPolicy("first", 1)
    assert packing.place(cluster, whole, H100) == (1, (DevicePick(0, 1000), DevicePick(1, 1000)))
    assert spread.place(cluster, whole, H100)[0] == 2  # the emptier of the first two only
    assert first.place(cluster, whole, H100)[0] == 0  # snapshot order, no scores
    assert packing.place(cluster, whole, H100, only=[0, 2])[0] == 2  # restricted search


def test_the_chain_asks_the_vector_policy_only_for_a_lone_unrestricted_replica() -> None:
    calls: list[ReplicaRequest] = []

    class Spy(PolicyPlacer):
        def place(self, request: ReplicaRequest) -> tuple[int, tuple[DevicePick, ...]] | None:
            calls.append(request)
            return super().place(request)

    nodes = [node("a", gpus=1), node("m", devices=[mig_device(0, ("1g.10gb",))])]
    cluster = Cluster(nodes)
    cluster.placer = Spy("fgd-plus", cluster, lambda: None)
    config = get_profile("default").place
    mig = ReplicaRequest(1000, GIB, 1, models=(H100,), mig_profile="1g.10gb")
    assert place_replica(cluster, SHARE, H100, config)[0] == 0  # a gang's replica: the walk
    assert place_replica(cluster, SHARE, H100, config, [0], alone=True)[0] == 0  # restricted
    assert place_replica(cluster, mig, H100, config, alone=True)[0] == 1  # not covered
    assert not calls
    assert place_replica(cluster, SHARE, None, config, alone=True)[0] == 0
    assert calls == [SHARE]


def test_a_filter_that_refuses_the_vector_policys_node_hands_the_replica_to_the_walk() -> None:
    cluster = Cluster([node("a", gpus=1), node("b", gpus=1)])
    cluster.placer = PolicyPlacer("fgd-plus", cluster, lambda: None)
    free = PlaceConfig(policy="fgd-plus")
    assert place_replica(cluster, SHARE, H100, free, alone=True)[0] == 0
    not_a = PlaceConfig(policy="fgd-plus", filters=(lambda n, r: n.name != "a",))
    assert place_replica(cluster, SHARE, H100, not_a, alone=True)[0] == 1
