"""Could a job ever run here? The `unschedulable` reason: it would not fit even on an empty center.

Nodes are grouped by shape (CPU, memory, devices with their models, memory and MIG layout), so
the answer costs a few placements per distinct shape, cached per request shape for the cycle.
Cordoned nodes count: cordoning is temporary, a job waiting for one waits for `resources`.
A request whose image needs node labels (`ReplicaRequest.needs`) groups the nodes by those
labels' values too, so a CUDA 12.4 image is unschedulable on a center of 12.2 drivers.
"""

from __future__ import annotations

from collections.abc import Sequence

from aicc.scheduler.cluster import Amount, Cluster
from aicc.scheduler.indexed import pick
from aicc.scheduler.snapshot import DeviceView, MigSlice, NodeView, ReplicaRequest


class Feasibility:
    def __init__(self, nodes: Sequence[NodeView]) -> None:
        self._nodes = nodes
        # distinct node shapes, by the label names the requests' needs compare ((): none)
        self._types: dict[tuple[str, ...], list[tuple[NodeView, int]]] = {}
        self._known: dict[tuple[object, ...], bool] = {}

    @property
    def nodes(self) -> Sequence[NodeView]:
        return self._nodes

    def ever_fits(
        self, replicas: int, requests: Sequence[ReplicaRequest], key: tuple[object, ...]
    ) -> bool:
        """Would `replicas` replicas of one of `requests` fit on the empty center?"""
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = any(self._room(r, replicas) >= replicas for r in requests)
        return known

    def _room(self, request: ReplicaRequest, replicas: int) -> int:
        labels = tuple(label for label, _ in request.needs)
        types = self._types.get(labels)
        if types is None:
            types = self._types[labels] = node_types(self._nodes, labels)
        room = 0
        for node, count in types:
            scratch = Cluster([node])
            fits = 0
            while fits < replicas:
                picks = pick(scratch, 0, request)
                if picks is None:
                    break
                scratch.take(0, Amount(request.cpu_milli, request.memory_mib, picks))
                fits += 1
            room += fits * count
            if room >= replicas:
                break
        return room


def node_types(
    nodes: Sequence[NodeView], labels: tuple[str, ...] = ()
) -> list[tuple[NodeView, int]]:
    """Distinct empty node shapes and how many nodes have each; with `labels`, the values of
    those labels are part of the shape (and kept on the empty node)."""
    counts: dict[tuple[object, ...], tuple[NodeView, int]] = {}
    for n in nodes:
        cpu = n.total_cpu_milli or n.free_cpu_milli
        memory = n.total_memory_mib or n.free_memory_mib
        kept = tuple(n.labels.get(k) for k in labels)
        sig = (
            cpu,
            memory,
            n.shares,
            tuple((d.model, d.memory_mib, tuple(s.profile for s in d.mig)) for d in n.devices),
            kept,
        )
        found = counts.get(sig)
        if found is not None:
            counts[sig] = (found[0], found[1] + 1)
            continue
        devices = [
            DeviceView(
                d.index,
                d.model,
                d.memory_mib,
                mig=tuple(MigSlice(s.index, s.profile) for s in d.mig),
            )
            for d in n.devices
        ]
        empty = NodeView(
            n.name,
            cpu,
            memory,
            devices,
            total_cpu_milli=cpu,
            total_memory_mib=memory,
            shares=n.shares,
            labels={k: v for k, v in zip(labels, kept, strict=True) if v is not None},
        )
        counts[sig] = (empty, 1)
    return list(counts.values())
