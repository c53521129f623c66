"""A profile's placement policy (`placement: {policy: fgd-plus}`) inside the scheduling cycle.

The placement package (`aicc.scheduler.placement`) holds policies that score every node at once
over a `ClusterState` (numpy arrays): the FGD paper's baselines, `fgd`, our `fgd-plus`. When a
profile names one, the cycle's `Cluster` carries a `PolicyPlacer`, the first link of the
profile's chain (`allocate.place_replica`, the one way every replica is placed): it places every
job of one replica that it covers: a share of one device, whole devices on one node, or no
device at all. MIG slices, multi-replica gangs (topology first) and searches restricted to some
nodes (backfill into a reservation) go to the chain's other link, the `indexed` walk
(`indexed.py`): the node index, `sample` feasible nodes and the weighted scorers.

Contract:
- The policy scores the Cluster's own vector state (`Cluster.vectors()`: built from its nodes
  the first time the policy is asked, then changed by every later `take` and `give`, committed,
  rolled back or discarded alike). It never decides alone: the Cluster still checks and takes
  what the policy picked.
- The workload, the expected task mix that FGD measures fragmentation against, is what the
  cycle knows now: every replica of its pending and running jobs (MIG slices left out), built
  when first needed (`snapshot_workload`). Never future arrivals. A simulator may replace it
  between decisions (`set_workload`), as a fresh cycle would see it.
- Ties: the first of equally good nodes in snapshot order, so a cycle stays deterministic; a
  simulator may pass `rng` to break them at random (kube-scheduler's habit) instead.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable

import numpy as np

from aicc.scheduler.cluster import Cluster
from aicc.scheduler.placement import (
    REGISTRY,
    ClusterState,
    Demand,
    FGDPolicy,
    Policy,
    TaskMix,
    demand_of,
    get_policy,
)
from aicc.scheduler.snapshot import DevicePick, JobView, ReplicaRequest, Snapshot, request_key

Spot = tuple[int, tuple[DevicePick, ...]]
DEMANDS = 4096  # requests whose placement demand a placer keeps (`PolicyPlacer._demand`)


def job_counts(jobs: Iterable[JobView]) -> list[tuple[ReplicaRequest, float]]:
    """(request, replicas) per distinct request of these jobs, MIG slices left out: the first
    request of each, in order of first sight, told apart by `request_key` as `CycleState.shape`
    tells them."""
    first: dict[tuple[object, ...], ReplicaRequest] = {}
    counts: dict[tuple[object, ...], float] = {}
    for job in jobs:
        r = job.request
        if r.mig_profile is None:
            key = request_key(r)
            total = counts.get(key)
            if total is None:
                first[key] = r
                total = 0.0
            counts[key] = total + job.replicas
    return [(first[key], total) for key, total in counts.items()]


def snapshot_workload(snapshot: Snapshot) -> TaskMix | None:
    """The task mix a cycle expects: every replica of its pending and running jobs, by shape.
    None when there is none (only MIG slices, or nothing at all)."""
    counts = job_counts(snapshot.pending) + job_counts(snapshot.running)
    return TaskMix.from_counts(counts) if counts else None


class PolicyPlacer:
    """Places one replica by the named placement policy over the cycle's `Cluster` as vectors
    (module docstring). Attach it as `cluster.placer`.

    It holds its cluster weakly: the cluster holds it (`cluster.placer`), and a strong link back
    would make every cycle's cluster, vectors and score caches a reference cycle, which only the
    collector's full pass frees. A cycle runs with the collector paused and hands what it made
    to the oldest generation (`framework.collector_paused`), whose full passes are rare: on the
    whole Philly trace a simulation kept every cycle's cluster (about 250 KB on 560 GPUs, most
    of it numpy arrays the collector does not count) and grew to 24 GB. The caller keeps the
    cluster alive while it places."""

    def __init__(
        self,
        name: str,
        cluster: Cluster,
        workload: Callable[[], TaskMix | None],
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.name = name
        self._cluster = weakref.ref(cluster)
        self.rng = rng
        self._workload_of = workload
        self._workload: TaskMix | None = None
        self._policy: Policy | None = None
        self._state: ClusterState | None = None
        self._random = rng or np.random.default_rng(0)  # `random` policy only: fixed per cycle
        self._demands: dict[int, tuple[ReplicaRequest, Demand]] = {}  # by id() (`_demand`)
        # Some device is leased: the vectors pick devices by capacity alone, so the walk, which
        # asks fit.device_free_to of each device, places every replica (see `covers`). Node
        # windows and leases need no such step aside: allocate.place_replica hands a vector's
        # choice that fit.admits refuses to the walk.
        self._device_leases = any(n.device_leases for n in cluster.nodes)
        if name not in REGISTRY:
            raise ValueError(f"unknown placement policy {name!r}; one of {', '.join(REGISTRY)}")

    @property
    def cluster(self) -> Cluster:
        """The cluster this placer places on (held weakly, see the class docstring)."""
        cluster = self._cluster()
        if cluster is None:
            raise ReferenceError("the placer's cluster is gone: keep it while placing")
        return cluster

    # --- the Placer protocol (cluster.py) ---------------------------------------------------------

    def covers(self, request: ReplicaRequest) -> bool:
        """Not MIG slices; nor jobs whose data some node already holds: the indexed walk weighs
        that (`data_locality`), the vector policies score capacity alone; nor jobs whose image
        needs node labels (`needs`): the vectors hold no labels, the walk tests them; nor any
        replica while some device is leased (the walk tests each device)."""
        return (
            request.mig_profile is None
            and not request.data
            and not request.needs
            and not self._device_leases
        )

    def place(self, request: ReplicaRequest) -> Spot | None:
        if not self.cluster.nodes:  # every node down: the vectors would have no rows
            return None
        state = self.state()
        policy = self._policy_for(request)
        if isinstance(policy, FGDPolicy) and type(policy).choose is FGDPolicy.choose:
            # its node and devices as `choose` finds them, without making a `Choice`
            return policy.spot(state, self._demand(request), self._random)
        choice = policy.choose(state, self._demand(request), self._random)
        return None if choice is None else (choice.node, choice.devices)

    def _demand(self, request: ReplicaRequest) -> Demand:
        """`demand_of(request)`, by the request object: the cycle asks with the same few
        requests (narrowed to a model once per shape, `CycleState.attempts`), and
        `demand_of`'s cache hashes the frozen dataclass in Python at every call. Kept with
        the request, so that its id() names it; at most DEMANDS of them."""
        found = self._demands.get(id(request))
        if found is None or found[0] is not request:
            if len(self._demands) >= DEMANDS:
                self._demands.clear()
            found = self._demands[id(request)] = (request, demand_of(request))
        return found[1]

    # --- state and workload ---------------------------------------------------------------------

    def state(self) -> ClusterState:
        """The cluster's free capacity as vectors (`Cluster.vectors`), ties in node order
        unless the placer breaks them at random (`rng`)."""
        if self._state is None:
            state = self.cluster.vectors()
            if self.rng is None:
                state.tie_order = np.arange(state.size, dtype=np.int64)
            self._state = state
        return self._state

    @property
    def workload(self) -> TaskMix | None:
        if self._workload is None:
            self._workload = self._workload_of()
        return self._workload

    def set_workload(self, workload: TaskMix) -> None:
        """Score against this task mix from now on. A policy that can re-weight its cached
        scores (`fgd`, `fgd-plus`: `reweight`) keeps them when the mix has no new shape;
        otherwise the policy starts over."""
        self._workload = workload
        policy = self._policy
        reweight = getattr(policy, "reweight", None)
        if policy is not None and reweight is not None and reweight(workload):
            return
        self._policy = None
        if self._state is not None:
            self._state.caches.clear()

    def _policy_for(self, request: ReplicaRequest) -> Policy:
        if self._policy is None:
            workload = self.workload
            if workload is None:  # nothing to expect but this replica
                workload = self._workload = TaskMix.from_requests([request])
            self._policy = get_policy(self.name, workload=workload)
        return self._policy
