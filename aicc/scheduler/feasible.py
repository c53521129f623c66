"""Could a job ever run here? The `unschedulable` reason: it would not fit even on an empty center.

Nodes are grouped by shape (CPU, memory, devices with their models, memory and MIG layout), so
the answer costs a few placements per distinct shape, cached per request shape for the cycle.
Cordoned nodes count: cordoning is temporary, a job waiting for one waits for `resources`.
A request whose image needs node labels (`ReplicaRequest.needs`) groups the nodes by those
labels' values too, so a CUDA 12.4 image is unschedulable on a center of 12.2 drivers.
A gang that must stay in one rack or pool (`ReplicaRequest.within`) counts the room of each
such domain apart: it fits only if one domain could hold all its replicas.
`lacks` says, per shape of node, what an empty one lacks of a job: the refusal at submit.
"""

from __future__ import annotations

from collections.abc import Sequence

from aicc.core.units import format_cpu, format_memory
from aicc.scheduler.cluster import Amount, Cluster
from aicc.scheduler.fit import model_ok
from aicc.scheduler.indexed import pick
from aicc.scheduler.snapshot import DeviceView, MigSlice, NodeView, ReplicaRequest


class Feasibility:
    def __init__(self, nodes: Sequence[NodeView]) -> None:
        self._nodes = nodes
        # distinct node shapes, by the label names the requests' needs compare ((): none), and
        # by domain for a gang kept in one (`within`; "": every node)
        self._types: dict[tuple[str, str, tuple[str, ...]], list[tuple[NodeView, int]]] = {}
        self._domains: dict[str, dict[str, list[NodeView]]] = {}
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
            known = self._known[key] = any(
                max(self.rooms(r, replicas).values(), default=0) >= replicas for r in requests
            )
        return known

    def rooms(self, request: ReplicaRequest, replicas: int) -> dict[str, int]:
        """How many of `replicas` replicas the empty center holds (capped at `replicas`), by
        domain for a gang kept in one (`request.within`), else under "" for all nodes."""
        within = request.within if replicas > 1 else None
        if within is None:
            return {"": self._room(request, replicas, "", self._nodes)}
        groups = self._domains.get(within)
        if groups is None:
            groups = self._domains[within] = domain_nodes(self._nodes, within)
        return {name: self._room(request, replicas, name, nodes) for name, nodes in groups.items()}

    def _room(
        self, request: ReplicaRequest, replicas: int, domain: str, nodes: Sequence[NodeView]
    ) -> int:
        labels = tuple(label for label, _ in request.needs)
        level = (request.within or "") if domain else ""
        place = (level, domain, labels)
        types = self._types.get(place)
        if types is None:
            types = self._types[place] = node_types(nodes, labels)
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
        return min(room, replicas)


def domain_nodes(nodes: Sequence[NodeView], within: str) -> dict[str, list[NodeView]]:
    """The nodes of each rack (`pool/rack`: a rack's name is its pool's) or each pool, as
    `cluster.Cluster` names them; a node without a rack label is in no rack."""
    out: dict[str, list[NodeView]] = {}
    for n in nodes:
        pool = n.labels.get("pool", "default")
        if within == "pool":
            out.setdefault(pool, []).append(n)
        elif rack := n.labels.get("rack"):
            out.setdefault(f"{pool}/{rack}", []).append(n)
    return out


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
        sig = _shape(n, kept)
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


def lacks(
    nodes: Sequence[NodeView], request: ReplicaRequest, replicas: int, *, shown: int = 6
) -> str:
    """What each node of the center, empty, lacks of a job that could never run (the refusal at
    submit, `aicc job explain`'s `unschedulable`): per node, what one replica needs and it
    has too little of (`have/need`), or, where one fits, how many of the gang's replicas it
    holds; for a gang kept in one rack or pool, how many each domain holds. Nodes that lack
    alike share a line (`a, b: H100-SXM 4/8`); at most `shown` lines, then how many more.
    Names, figures and units only: the text reads the same in every language."""
    lines: dict[str, list[str]] = {}
    fleet = Feasibility(nodes)
    if replicas > 1 and request.within is not None:
        for name, room in sorted(fleet.rooms(request, replicas).items()):
            lines.setdefault(f"replicas {room}/{replicas}", []).append(f"{request.within} {name}")
        if not lines:
            lines[f"no node has a {request.within} label"] = []
    else:
        said: dict[tuple[object, ...], str] = {}  # by shape: what an empty one lacks
        for n in nodes:
            shape = _shape(n)
            line = said.get(shape)
            if line is None:
                ((empty, _),) = node_types([n])
                line = _short_of(empty, request)
                if not line:
                    room = Feasibility([empty])._room(request, replicas, "", [empty])
                    line = f"replicas {room}/{replicas}"
                said[shape] = line
            lines.setdefault(line, []).append(n.name)
    out = []
    for line, names in list(lines.items())[:shown]:
        head = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        out.append(f"{head}: {line}" if head else line)
    if len(lines) > shown:
        out.append(f"+{len(lines) - shown}")
    return "; ".join(out) if out else "no nodes"


def _shape(n: NodeView, kept: tuple[object, ...] = ()) -> tuple[object, ...]:
    """What makes two empty nodes alike (`node_types`)."""
    return (
        n.total_cpu_milli or n.free_cpu_milli,
        n.total_memory_mib or n.free_memory_mib,
        n.shares,
        tuple((d.model, d.memory_mib, tuple(s.profile for s in d.mig)) for d in n.devices),
        kept,
    )


def _short_of(node: NodeView, request: ReplicaRequest) -> str:
    """What an empty node has too little of for one replica (`have/need`), "" when nothing."""
    short = []
    if node.total_cpu_milli < request.cpu_milli:
        short.append(f"CPU {format_cpu(node.total_cpu_milli)}/{format_cpu(request.cpu_milli)}")
    if node.total_memory_mib < request.memory_mib:
        have, need = format_memory(node.total_memory_mib), format_memory(request.memory_mib)
        short.append(f"memory {have}/{need}")
    models = "/".join(request.models) if request.models else "accelerators"
    usable = [d for d in node.devices if model_ok(d, request)]
    if request.mig_profile is not None:
        slices = sum(1 for d in usable for s in d.mig if s.profile == request.mig_profile)
        if not slices:
            short.append(f"MIG {request.mig_profile} 0/1")
    elif request.accel_milli is not None and request.accel_milli < 1000:
        plain = [d for d in usable if not d.mig]
        if not node.shares and plain:
            short.append(f"{models} shares 0/1")
        elif request.accel_memory_mib is not None:
            most = max((d.memory_mib for d in plain), default=0)
            if most < request.accel_memory_mib:
                have, need = format_memory(most), format_memory(request.accel_memory_mib)
                short.append(f"{models} memory {have}/{need}")
        elif not plain:
            short.append(f"{models} 0/1")
    elif request.accel_count:
        whole = [d for d in usable if not d.mig]
        if request.accel_memory_mib is not None:
            whole = [d for d in whole if d.memory_mib >= request.accel_memory_mib]
        if len(whole) < request.accel_count:
            short.append(f"{models} {len(whole)}/{request.accel_count}")
    return ", ".join(short)
