"""Placement policies for one replica on a cluster that shares devices.

    state = ClusterState.from_nodes(snapshot.nodes)        # or from a trace's node list
    policy = get_policy("fgd", workload=TaskMix.from_requests(recent))
    choice = choose(state, request, policy, rng)           # Choice | None
    if choice is not None:
        state.apply(choice, request)

Policies: the FGD paper's baselines (`random`, `dot-product`, `gpu-clustering`, `gpu-packing`,
`best-fit`), `fgd`, and our `fgd-plus` (see `plus.py`). Among equal scores the choice is random
with the caller's generator, as kube-scheduler does, so a seeded run is reproducible. They are
registered by name in `REGISTRY`; `base.py` says what a `Policy` is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aicc.scheduler.placement.base import Policy
from aicc.scheduler.placement.baselines import (
    BestFitPolicy,
    DotProductPolicy,
    GpuClusteringPolicy,
    GpuPackingPolicy,
    RandomPolicy,
)
from aicc.scheduler.placement.demand import Choice, Demand, demand_of
from aicc.scheduler.placement.fgd import FGDPolicy
from aicc.scheduler.placement.frag import FragModel
from aicc.scheduler.placement.plus import FGDPlusPolicy
from aicc.scheduler.placement.state import ClusterState
from aicc.scheduler.placement.task_mix import TaskMix, TaskShape
from aicc.scheduler.snapshot import ReplicaRequest


def _needs(workload: TaskMix | None) -> TaskMix:
    assert workload is not None  # get_policy checked NEEDS_WORKLOAD
    return workload


# The registry: a policy's name -> its factory of the workload. A new policy is a module here
# and one line below (and NEEDS_WORKLOAD when it measures against the task mix).
REGISTRY: dict[str, Callable[[TaskMix | None], Policy]] = {
    "random": lambda workload: RandomPolicy(),
    "dot-product": lambda workload: DotProductPolicy(),
    "gpu-clustering": lambda workload: GpuClusteringPolicy(),
    "gpu-packing": lambda workload: GpuPackingPolicy(),
    "best-fit": lambda workload: BestFitPolicy(),
    "fgd": lambda workload: FGDPolicy(_needs(workload)),
    "fgd-plus": lambda workload: FGDPlusPolicy(_needs(workload)),
}
POLICIES = tuple(REGISTRY)
NEEDS_WORKLOAD = frozenset({"fgd", "fgd-plus"})


def get_policy(name: str, *, workload: TaskMix | None = None) -> Policy:
    """The policy of that name. `fgd` and `fgd-plus` need the expected task mix (`workload`).

    Raises ValueError for an unknown name or a missing workload.
    """
    if name in NEEDS_WORKLOAD and workload is None:
        raise ValueError(f"policy {name!r} needs a workload (the expected task shapes)")
    factory = REGISTRY.get(name)
    if factory is None:
        raise ValueError(f"unknown placement policy {name!r}; one of {', '.join(POLICIES)}")
    return factory(workload)


def choose(
    state: ClusterState,
    request: ReplicaRequest | Demand,
    policy: Policy,
    rng: np.random.Generator,
) -> Choice | None:
    """Where one replica goes under `policy`, or None if it fits nowhere. Does not change `state`;
    call `state.apply(choice, request)` to commit."""
    demand = request if isinstance(request, Demand) else demand_of(request)
    return policy.choose(state, demand, rng)


__all__ = [
    "POLICIES",
    "REGISTRY",
    "BestFitPolicy",
    "Choice",
    "ClusterState",
    "Demand",
    "DotProductPolicy",
    "FGDPlusPolicy",
    "FGDPolicy",
    "FragModel",
    "GpuClusteringPolicy",
    "GpuPackingPolicy",
    "Policy",
    "RandomPolicy",
    "TaskMix",
    "TaskShape",
    "choose",
    "demand_of",
    "get_policy",
]
