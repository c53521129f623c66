"""The scheduler's working copy of the nodes, indexed so a cycle never scans the whole center.

`Cluster` copies a snapshot node the first time a cycle changes it (never the jobs' views, never
per job; the snapshot itself is never changed) and keeps four indexes up to date as capacity is
taken and given back:

- `by_whole[model][k]`: schedulable nodes with exactly `k` whole free devices of `model`;
- `partial[model][b]`: devices in use by shares, bucketed by free milli (`b = free // 100`);
- `by_mig[(model, profile)]`: nodes with free MIG slices of that profile, and how many;
- per rack and pool, the whole free devices of each model (gang topology and quick rejects).

Every change goes through `take`/`give`, usually inside a `Statement`, which records them so a
trial (a gang, a reservation's replay, a preemption's what-if) is committed whole or discarded.
The same free capacity as numpy arrays (`vectors()`, a `placement.ClusterState` that the
placement policies score every node on at once) is the Cluster's own too: built on first use,
then changed by the same `take`/`give`, trials and rollbacks included, so nothing outside the
Cluster keeps two records in step.
Buckets are insertion-ordered dicts, so iteration, and so every decision, is deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import NamedTuple, Protocol

from aicc.scheduler.placement.state import ClusterState
from aicc.scheduler.snapshot import DevicePick, DeviceView, NodeView, ReplicaRequest

MILLI = 1000
BUCKETS = 10  # partial devices by free milli: 0-99, 100-199, ..., 900-999


class Amount(NamedTuple):  # a tuple: cycles build many
    """What one take or give changes on one node."""

    cpu_milli: int
    memory_mib: int
    picks: tuple[DevicePick, ...] = ()


class Placer(Protocol):
    """Places one-replica jobs by a policy of its own over the cluster's `vectors()`
    (`placer.PolicyPlacer`). `allocate.place_replica` asks it first for the requests it covers,
    the `indexed` walk (`indexed.py`) places the rest."""

    def covers(self, request: ReplicaRequest) -> bool: ...

    def place(self, request: ReplicaRequest) -> tuple[int, tuple[DevicePick, ...]] | None:
        """The node and devices for one replica, or None when it fits nowhere. No change."""
        ...


def _copy_device(d: DeviceView) -> DeviceView:
    if d.mig:  # handed out by slice only: invisible to the whole and share paths of fit.py
        return DeviceView(d.index, d.model, d.memory_mib, 0, 0, d.mig, d.leased_to, d.lends)
    return DeviceView(
        d.index, d.model, d.memory_mib, d.free_milli, d.free_memory_mib, (), d.leased_to, d.lends
    )


def _copy_node(n: NodeView) -> NodeView:
    return NodeView(
        name=n.name,
        free_cpu_milli=n.free_cpu_milli,
        free_memory_mib=n.free_memory_mib,
        devices=[_copy_device(d) for d in n.devices],
        labels=n.labels,
        schedulable=n.schedulable,
        total_cpu_milli=n.total_cpu_milli,
        total_memory_mib=n.total_memory_mib,
        shares=n.shares,
        open_for_s=n.open_for_s,
        notice_s=n.notice_s,
        leased_to=n.leased_to,
        lends=n.lends,
        device_leases=n.device_leases,
    )


class Cluster:
    """Free capacity per node and device, with the indexes above. Mutated only by take/give."""

    def __init__(self, nodes: Sequence[NodeView]) -> None:
        # Copy on write: a node is copied the first time a take or give changes it (most nodes
        # never are in a cycle); nodes with MIG devices at once, since the copy hides them.
        self.nodes: list[NodeView] = [
            _copy_node(n) if any(d.mig for d in n.devices) else n for n in nodes
        ]
        self._owned: list[bool] = [n is not o for n, o in zip(self.nodes, nodes, strict=True)]
        self.index_of: dict[str, int] = {n.name: i for i, n in enumerate(self.nodes)}
        self.models: list[str] = []  # device models as the devices spell them, first seen first
        self.max_devices: dict[str, int] = {}
        self.pos: list[dict[int, int]] = []  # node -> device index -> position in node.devices
        self.whole: list[dict[str, int]] = []  # node -> model -> whole free devices
        self.mig_free: list[list[dict[int, str]]] = []  # node -> position -> free slices
        self.rack: list[str] = []
        self.pool: list[str] = []
        self.by_whole: dict[str, list[dict[int, None]]] = {}
        self.partial: dict[str, list[dict[tuple[int, int], None]]] = {}
        self.by_mig: dict[tuple[str, str], dict[int, int]] = {}
        self.rack_whole: dict[str, dict[str, int]] = {}
        self.pool_whole: dict[str, dict[str, int]] = {}
        self.whole_total: dict[str, int] = {}
        self.rack_nodes: dict[str, list[int]] = {}
        self.pool_nodes: dict[str, list[int]] = {}
        self._lower: dict[str, str] = {}
        # node -> its one device model, when all its devices are of one model (else "")
        self.single_model: list[str] = [
            n.devices[0].model
            if n.devices and all(d.model == n.devices[0].model for d in n.devices)
            else ""
            for n in self.nodes
        ]
        self._any: dict[ReplicaRequest, ReplicaRequest] = {}
        self.placer: Placer | None = None  # set by the cycle when its profile names a policy
        self._vectors: ClusterState | None = None  # see `vectors`
        for n in self.nodes:
            for model, count in Counter(d.model for d in n.devices).items():
                if model not in self.max_devices:
                    self.models.append(model)
                    self._lower.setdefault(model.lower(), model)
                self.max_devices[model] = max(self.max_devices.get(model, 0), count)
        for m in self.models:
            self.by_whole[m] = [{} for _ in range(self.max_devices[m] + 1)]
            self.partial[m] = [{} for _ in range(BUCKETS)]
            self.rack_whole[m] = {}
            self.pool_whole[m] = {}
            self.whole_total[m] = 0
        for i, n in enumerate(self.nodes):
            pool = n.labels.get("pool", "default")
            rack = n.labels.get("rack")
            self.pool.append(pool)
            self.rack.append(f"{pool}/{rack}" if rack else "")
            self.pool_nodes.setdefault(pool, []).append(i)
            if rack:
                self.rack_nodes.setdefault(self.rack[i], []).append(i)
            self.pos.append({d.index: p for p, d in enumerate(n.devices)})
            self.mig_free.append(  # a dict literal, not a comprehension, per plain device
                [
                    {s.index: s.profile for s in d.mig if not s.used} if d.mig else {}
                    for d in n.devices
                ]
            )
            whole: dict[str, int] = {}  # counted here, indexed once per node below
            for p, d in enumerate(n.devices):
                if d.mig:
                    for profile in self.mig_free[i][p].values():
                        self._mig_count(i, d.model, profile, +1)
                elif d.free_milli >= MILLI:
                    whole[d.model] = whole.get(d.model, 0) + 1
                elif d.free_milli > 0 and n.schedulable:
                    self.partial[d.model][min(d.free_milli // 100, BUCKETS - 1)][(i, p)] = None
            self.whole.append({})
            for m, count in whole.items():
                self._whole_count(i, m, count)

    # --- lookups -----------------------------------------------------------------------------

    def model_keys(self, wanted: tuple[str, ...] | None) -> list[str]:
        """The cluster's device models a request accepts (all of them for None), in its order."""
        if wanted is None:
            return list(self.models)
        out: list[str] = []
        for name in wanted:
            key = self._lower.get(name.lower())
            if key is not None and key not in out:
                out.append(key)
        return out

    def any_model(self, request: ReplicaRequest) -> ReplicaRequest:
        """The request without its model list: for a node whose devices are all of an accepted
        model, fit.py then skips the per-device model test (memoized)."""
        found = self._any.get(request)
        if found is None:
            found = self._any[request] = replace(request, models=None)
        return found

    def device_model(self, i: int, device_index: int) -> str | None:
        p = self.pos[i].get(device_index)
        return None if p is None else self.nodes[i].devices[p].model

    def whole_candidates(self, model: str, count: int, *, emptiest: bool = False) -> Iterator[int]:
        """Nodes with at least `count` whole free devices of `model`, fullest first (packing)."""
        buckets = self.by_whole.get(model)
        if buckets is None or count >= len(buckets):
            return
        ks = range(len(buckets) - 1, count - 1, -1) if emptiest else range(count, len(buckets))
        for k in ks:
            yield from buckets[k]

    def whole_slots(self, model: str, count: int) -> int:
        """How many replicas of `count` whole devices of `model` the free devices could hold,
        node by node (CPU and memory aside): a quick upper bound for gangs."""
        buckets = self.by_whole.get(model)
        if buckets is None or count <= 0:
            return 0
        return sum(len(buckets[k]) * (k // count) for k in range(count, len(buckets)))

    def share_candidates(self, model: str, milli: int) -> Iterator[int]:
        """Nodes with a partly used device that may hold `milli` (fullest first), then nodes
        with a whole free device (those with the fewest first). A node may repeat."""
        buckets = self.partial.get(model)
        if buckets is None:
            return
        for b in range(min(milli // 100, BUCKETS - 1), BUCKETS):
            for i, p in buckets[b]:
                if self.nodes[i].devices[p].free_milli >= milli:
                    yield i
        yield from self.whole_candidates(model, 1)

    def mig_candidates(self, model: str, profile: str) -> Iterator[int]:
        yield from self.by_mig.get((model, profile), {})

    # --- changes -----------------------------------------------------------------------------

    def vectors(self) -> ClusterState:
        """The free capacity as numpy arrays, for the placement policies: built from the nodes
        the first time it is asked (a cycle that places nothing by policy never pays for it),
        then changed with every take and give."""
        if self._vectors is None:
            self._vectors = ClusterState.from_nodes(self.nodes)
        return self._vectors

    @contextmanager
    def what_if(self) -> Iterator[None]:
        """For trials that roll every change back (preemption and reservation searches): the
        vectors are left alone, since they would only be changed and changed back (their
        per-node versions would still move, and the policies' score caches with them), and
        one-replica trials place by the index instead of the placer."""
        placer, self.placer = self.placer, None
        vectors, self._vectors = self._vectors, None
        try:
            yield
        finally:
            self.placer, self._vectors = placer, vectors

    def take(self, i: int, amount: Amount) -> None:
        self._apply(i, amount, -1)

    def give(self, i: int, amount: Amount) -> None:
        self._apply(i, amount, +1)

    def _apply(self, i: int, amount: Amount, sign: int) -> None:
        if not self._owned[i]:
            self.nodes[i] = _copy_node(self.nodes[i])
            self._owned[i] = True
        node = self.nodes[i]
        node.free_cpu_milli += sign * amount.cpu_milli
        node.free_memory_mib += sign * amount.memory_mib
        for pick in amount.picks:
            p = self.pos[i].get(pick.index)
            if p is None:
                continue  # a device that left the node (unhealthy): nothing to count
            device = node.devices[p]
            if pick.mig_slice is not None:
                slices = self.mig_free[i][p]
                profile = next((s.profile for s in device.mig if s.index == pick.mig_slice), None)
                if profile is None:
                    continue
                if sign < 0:
                    slices.pop(pick.mig_slice, None)
                else:
                    slices[pick.mig_slice] = profile
                self._mig_count(i, device.model, profile, sign)
                continue
            self._index_device(i, p, -1)
            device.free_milli += sign * pick.milli
            if device.free_memory_mib is not None and pick.memory_mib is not None:
                device.free_memory_mib += sign * pick.memory_mib
            self._index_device(i, p, +1)
        if self._vectors is not None:
            self._vectors.change(i, amount.cpu_milli, amount.memory_mib, amount.picks, sign)

    def _index_device(self, i: int, p: int, sign: int) -> None:
        """Add (+1) or remove (-1) one device's entries in the indexes."""
        device = self.nodes[i].devices[p]
        m = device.model
        free = device.free_milli
        if free >= MILLI:
            self._whole_count(i, m, sign)
        elif free > 0 and self.nodes[i].schedulable:
            bucket = self.partial[m][min(free // 100, BUCKETS - 1)]
            if sign > 0:
                bucket[(i, p)] = None
            else:
                bucket.pop((i, p), None)

    def _whole_count(self, i: int, m: str, delta: int) -> None:
        counts = self.whole[i]
        old = counts.get(m, 0)
        new = old + delta
        counts[m] = new
        if not self.nodes[i].schedulable:
            return
        buckets = self.by_whole[m]
        if old > 0:
            buckets[old].pop(i, None)
        if new > 0:
            buckets[new][i] = None
        self.whole_total[m] += delta
        if self.rack[i]:
            racks = self.rack_whole[m]
            racks[self.rack[i]] = racks.get(self.rack[i], 0) + delta
        pools = self.pool_whole[m]
        pools[self.pool[i]] = pools.get(self.pool[i], 0) + delta

    def _mig_count(self, i: int, model: str, profile: str, delta: int) -> None:
        if not self.nodes[i].schedulable:
            return
        nodes = self.by_mig.setdefault((model, profile), {})
        count = nodes.get(i, 0) + delta
        if count > 0:
            nodes[i] = count
        else:
            nodes.pop(i, None)


class Statement:
    """Changes to a `Cluster` that are committed whole or discarded (Volcano's statement).

    `mark()` and `rollback(mark)` nest trials inside one statement; `discard()` undoes all.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.log: list[tuple[int, int, Amount]] = []  # (sign, node, amount)

    def take(self, i: int, amount: Amount) -> None:
        self.cluster.take(i, amount)
        self.log.append((-1, i, amount))

    def give(self, i: int, amount: Amount) -> None:
        self.cluster.give(i, amount)
        self.log.append((+1, i, amount))

    def mark(self) -> int:
        return len(self.log)

    def rollback(self, mark: int) -> None:
        while len(self.log) > mark:
            sign, i, amount = self.log.pop()
            if sign < 0:
                self.cluster.give(i, amount)
            else:
                self.cluster.take(i, amount)

    def discard(self) -> None:
        self.rollback(0)

    def commit(self) -> None:
        self.log.clear()
