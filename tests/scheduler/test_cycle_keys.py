"""The cycle's cheap keys stay exact (issue 38.2, fifth round): a request's shape number is keyed
by a plain tuple of its fields, so requests that differ in any field must still get different
numbers and equal ones the same; a placement `Demand` remembers its hash, which must agree with
equality and must not travel in a pickle (a simulation's checkpoint is read back in another
process, where strings hash differently); the quota tree's signed additions give the same
usage as before; the cycle's workload counts requests as keying by the requests would, and
a placer's demand per request object is `demand_of`'s."""

from __future__ import annotations

import pickle
from dataclasses import fields, replace

from sched_fixtures import job, node, profile, snapshot, tree

from aicc.core.tenancy import Quota
from aicc.scheduler.cluster import Cluster
from aicc.scheduler.cycle import CycleState
from aicc.scheduler.placement.demand import Demand, demand_of
from aicc.scheduler.placer import DEMANDS, PolicyPlacer, job_counts
from aicc.scheduler.quota import QuotaTree
from aicc.scheduler.snapshot import ReplicaRequest

BASE = ReplicaRequest(2_000, 4_096, 1, 250, 10_240, ("H100",), None, (("n1", 0.5),))
OTHER_VALUES = {  # one different value per field of ReplicaRequest
    "cpu_milli": 3_000,
    "memory_mib": 8_192,
    "accel_count": 2,
    "accel_milli": 500,
    "accel_memory_mib": 20_480,
    "models": ("A100",),
    "mig_profile": "1g.10gb",
    "data": (("n2", 0.5),),
    "needs": (("nvidia.com/cuda", "12.4"),),
    "runtime_s": 3_600,  # the three set under maintenance windows and leases (issue 40)
    "org": "org-b",
    "preemptible": True,
    "within": "rack",  # a gang kept in one rack (the spec's `topology`, issue 63.1)
}


def cycle() -> CycleState:
    return CycleState(snapshot([node("n1")], []), profile())


def test_every_field_of_a_request_tells_shapes_apart() -> None:
    assert {f.name for f in fields(ReplicaRequest)} == set(OTHER_VALUES)  # a new field: add it
    state = cycle()
    base = state.shape(BASE)
    numbers = {state.shape(replace(BASE, **{name: value})) for name, value in OTHER_VALUES.items()}
    assert base not in numbers
    assert len(numbers) == len(OTHER_VALUES)


def test_equal_requests_share_a_shape_number_in_order_of_first_sight() -> None:
    state = cycle()
    first = state.shape(replace(BASE))
    second = state.shape(replace(BASE, cpu_milli=1))
    assert (first, second) == (0, 1)
    assert state.shape(replace(BASE)) == first  # another object, equal: the same number
    assert state.shape(replace(BASE, cpu_milli=1)) == second


def test_a_demand_hashes_as_it_compares() -> None:
    one = demand_of(ReplicaRequest(2_000, 4_096, 1, 250, models=("H100",)))
    same = Demand(2_000, 4_096, 1, 250, 0, ("h100",))
    other = Demand(2_000, 4_096, 1, 500, 0, ("h100",))
    assert one == same and hash(one) == hash(same)
    assert one != other
    assert {one: "table"}.get(same) == "table"
    assert other not in {one: "table"}


def test_a_pickled_demand_leaves_its_hash_behind() -> None:
    demand = Demand(8_000, 65_536, 2, 1_000, 0, ("h100", "a100"))
    hash(demand)  # remembered now
    state = pickle.loads(pickle.dumps(demand)).__dict__
    assert "_hash" not in state
    back = pickle.loads(pickle.dumps(demand))
    assert back == demand and hash(back) == hash(demand)
    assert {demand: 1}[back] == 1


def test_quota_additions_and_removals_sum_as_before() -> None:
    quota = QuotaTree(tree({"p": Quota(guaranteed={"pflops": 1.0})}))
    demand = {"cpu_milli": 2_000.0, "memory_mib": 4_096.0, "H100": 250.0, "pflops": 0.2475}
    quota.add("p", demand)
    quota.add("p", demand)
    for tenant in ("p", "org", "center"):
        assert quota.used[tenant] == {k: v + v for k, v in demand.items()}
    quota.add("p", demand, -1)
    quota.add("p", demand, -1)
    assert quota.used["p"] == dict.fromkeys(demand, 0.0)
    assert quota.used["center"] == dict.fromkeys(demand, 0.0)


def test_a_workload_counts_requests_as_the_dataclass_tells_them_apart() -> None:
    """`job_counts` keys requests by a plain tuple of their fields (sixth round): the same
    (request, replicas) as keying by the requests themselves, first requests in first-sight
    order, whatever field two requests differ in."""
    variants = [replace(BASE, **{name: value}) for name, value in OTHER_VALUES.items()]
    requests = [BASE, *variants, replace(BASE), *(replace(v) for v in reversed(variants))]
    jobs = [
        replace(job(f"j{i}"), request=request, replicas=1 + i % 3)
        for i, request in enumerate(requests)
    ]
    by_request: dict[ReplicaRequest, float] = {}
    for j in jobs:
        if j.request.mig_profile is None:
            by_request[j.request] = by_request.get(j.request, 0.0) + j.replicas
    counted = job_counts(jobs)
    assert counted == list(by_request.items())
    assert [id(r) for r, _ in counted] == [id(r) for r in by_request]  # the first of each
    assert len(counted) == len(OTHER_VALUES)  # the MIG slice's left out


def test_a_placer_s_demand_by_request_object_is_demand_of_s() -> None:
    """`PolicyPlacer._demand` keeps each request's demand by the object (sixth round): the
    same as `demand_of` for every request, equal or not, and bounded."""
    placer = PolicyPlacer("fgd-plus", Cluster([node("n1")]), lambda: None)
    requests = [BASE, replace(BASE), *(replace(BASE, **{n: v}) for n, v in OTHER_VALUES.items())]
    for request in [*requests, *requests]:
        assert placer._demand(request) == demand_of(request)
    assert all(placer._demands[id(r)][0] is r for r in requests)
    for cpu in range(DEMANDS + 1):
        placer._demand(replace(BASE, cpu_milli=cpu))
    assert len(placer._demands) <= DEMANDS
