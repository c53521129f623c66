"""The `indexed` placement policy: one replica by the Cluster's node indexes and the profile's
scorers (`plugins/score.py`). It places what the vector policies of `placement/` do not cover:
MIG slices, each replica of a gang, searches restricted to some nodes (`only`), and everything
when the profile names no vector policy.

It walks the index in the profile's order (`pack`: fullest first, `spread`: emptiest first,
`first`: snapshot order), keeps the first `sample` nodes where the replica fits (`fit.py`'s
rules, plus MIG: the fullest partitioned device first) and the profile's filters allow, and
takes the one with the highest weighted score, the first found on a tie. That walk is why it is
not a vector policy: scoring every node would change which node wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aicc.scheduler.cluster import MILLI, Cluster
from aicc.scheduler.fit import admits, device_free_to, model_ok, needs_met, pick_devices
from aicc.scheduler.plugins.score import Scorer
from aicc.scheduler.quota import mig_memory_mib, mig_milli
from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest

Picks = tuple[DevicePick, ...]
Spot = tuple[int, Picks]  # (node position in the cluster, devices)
NodeFilter = Callable[[NodeView, ReplicaRequest], bool]


@dataclass(frozen=True)
class IndexedPolicy:
    """The walk over the node index (module docstring), configured by the profile's
    `placement:` (`order`, `sample`) and its `score:` and filter plugins."""

    order: str = "pack"
    sample: int = 4
    scorers: tuple[tuple[Scorer, float], ...] = ()
    filters: tuple[NodeFilter, ...] = ()
    name: str = "indexed"

    def allows(self, node: NodeView, request: ReplicaRequest) -> bool:
        """Whether the node's windows and leases (fit.admits) and every filter plugin of the
        profile let the replica onto this node: what a vector policy's choice must pass."""
        if node.restricted and not admits(node, request):
            return False
        filters = self.filters  # none in most profiles: no generator per replica then
        return not filters or all(f(node, request) for f in filters)

    def place(
        self,
        cluster: Cluster,
        request: ReplicaRequest,
        model: str | None,
        only: Sequence[int] | None = None,
    ) -> Spot | None:
        """The best node for one replica among the first `sample` that fit, or None. Changes
        nothing."""
        source = only if only is not None else candidates(cluster, request, model, self.order)
        if request.data and only is None:  # nodes holding the job's data are sampled first
            source = _chain(_holders(cluster, request), source)
        need_whole = request.accel_count if model is not None and kind(request) == "whole" else 0
        found: list[Spot] = []
        seen: set[int] = set()
        nodes = cluster.nodes
        for i in source:
            node = nodes[i]
            if (
                node.free_cpu_milli < request.cpu_milli
                or node.free_memory_mib < request.memory_mib
                or i in seen
            ):
                continue
            seen.add(i)
            if need_whole and cluster.whole[i].get(model or "", 0) < need_whole:
                continue
            picks = pick(cluster, i, request)
            if picks is None:
                continue
            if self.filters and not all(f(node, request) for f in self.filters):
                continue
            found.append((i, picks))
            if len(found) >= self.sample:
                break
        if len(found) <= 1 or not self.scorers:
            return found[0] if found else None
        best, best_score = found[0], float("-inf")
        for spot in found:
            total = sum(w * s.score(nodes[spot[0]], request, spot[1]) for s, w in self.scorers)
            if total > best_score:
                best, best_score = spot, total
        return best


def kind(request: ReplicaRequest) -> str:
    if request.mig_profile is not None:
        return "mig"
    if request.accel_milli is not None and request.accel_milli < MILLI:
        return "share"
    if request.accel_count > 0:
        return "whole"
    return "cpu"


def is_share(request: ReplicaRequest) -> bool:
    """A MIG slice or a share of one device (not whole devices)."""
    return request.mig_profile is not None or (
        request.accel_milli is not None and request.accel_milli < 1000
    )


def pick(cluster: Cluster, i: int, request: ReplicaRequest) -> Picks | None:
    """The devices one replica would take on node `i`, or None (fit.py's rules, plus MIG)."""
    if not cluster.nodes[i].shares and is_share(request):
        return None
    if request.mig_profile is None:
        models = request.models
        if models is not None and len(models) == 1 and cluster.single_model[i] == models[0]:
            request = cluster.any_model(request)
        return pick_devices(cluster.nodes[i], request)
    node = cluster.nodes[i]
    if (
        not node.schedulable
        or request.cpu_milli > node.free_cpu_milli
        or request.memory_mib > node.free_memory_mib
        or (request.needs and not needs_met(node, request))
        or (node.restricted and not admits(node, request))
    ):
        return None
    best: tuple[tuple[int, int], int, int] | None = None
    for p, device in enumerate(node.devices):
        if not device.mig or not model_ok(device, request):
            continue
        if node.device_leases and not device_free_to(device, request):
            continue
        free = cluster.mig_free[i][p]
        slot = min((s for s, prof in free.items() if prof == request.mig_profile), default=None)
        if slot is None:
            continue
        key = (len(free), device.index)  # the fullest partitioned device first
        if best is None or key < best[0]:
            best = (key, device.index, slot)
    if best is None:
        return None
    profile = request.mig_profile
    return (DevicePick(best[1], mig_milli(profile), mig_memory_mib(profile), best[2]),)


def candidates(
    cluster: Cluster, request: ReplicaRequest, model: str | None, order: str
) -> Iterable[int]:
    """The nodes to walk, in the order's sequence (the index's, or every node for `first`)."""
    what = kind(request)
    if order == "first" or model is None or what == "cpu":
        return range(len(cluster.nodes))
    if what == "whole":
        return cluster.whole_candidates(model, request.accel_count, emptiest=order == "spread")
    if what == "mig":
        assert request.mig_profile is not None
        return cluster.mig_candidates(model, request.mig_profile)
    assert request.accel_milli is not None
    if order == "spread":
        return _chain(
            cluster.whole_candidates(model, 1, emptiest=True),
            cluster.share_candidates(model, request.accel_milli),
        )
    return cluster.share_candidates(model, request.accel_milli)


def _holders(cluster: Cluster, request: ReplicaRequest) -> list[int]:
    """The nodes whose data cache holds some of the job's data, most first."""
    held = sorted(request.data, key=lambda item: -item[1])
    return [cluster.index_of[name] for name, _ in held if name in cluster.index_of]


def _chain(*sources: Iterable[int]) -> Iterable[int]:
    for source in sources:
        yield from source
