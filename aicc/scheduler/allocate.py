"""Where replicas go: candidate nodes from the index, the fit filter, weighted scores, and gangs
placed whole (topology first: one rack, then one pool, then anywhere) or not at all.

The fit rules are `fit.py`'s (a share goes to the fullest device that holds it, whole devices to
the lowest free indices); MIG slices are picked here, fullest partitioned device first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aicc.scheduler.cluster import MILLI, Amount, Cluster, Statement
from aicc.scheduler.fit import model_ok, pick_devices
from aicc.scheduler.plugins.score import Scorer
from aicc.scheduler.quota import mig_memory_mib, mig_milli
from aicc.scheduler.snapshot import DevicePick, NodeView, ReplicaRequest

Picks = tuple[DevicePick, ...]
Spot = tuple[int, Picks]  # (node position in the cluster, devices)
NodeFilter = Callable[[NodeView, ReplicaRequest], bool]


@dataclass(frozen=True)
class PlaceConfig:
    """How a profile places replicas.

    `order`: `pack` walks the index fullest first, `spread` emptiest first, `first` walks the
    nodes in snapshot order (first fit). `sample`: feasible nodes scored per replica (1: take
    the first). `topology`: try one rack, then one pool, for multi-node gangs of whole devices,
    at most `max_domains` of each, best fit first. `policy`: a placement-package policy
    (`fgd-plus`, ...) that places what it covers (one replica, no MIG slice: `placer.py`) over
    every node; the rest keeps the walk, the sample and the scorers.
    """

    order: str = "pack"
    sample: int = 4
    scorers: tuple[tuple[Scorer, float], ...] = ()
    filters: tuple[NodeFilter, ...] = ()
    topology: bool = True
    max_domains: int = 8
    policy: str | None = None


def kind(request: ReplicaRequest) -> str:
    if request.mig_profile is not None:
        return "mig"
    if request.accel_milli is not None and request.accel_milli < MILLI:
        return "share"
    if request.accel_count > 0:
        return "whole"
    return "cpu"


def amount(request: ReplicaRequest, picks: Picks) -> Amount:
    return Amount(request.cpu_milli, request.memory_mib, picks)


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
    ):
        return None
    best: tuple[tuple[int, int], int, int] | None = None
    for p, device in enumerate(node.devices):
        if not device.mig or not model_ok(device, request):
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


def _chain(*sources: Iterable[int]) -> Iterable[int]:
    for source in sources:
        yield from source


def place_one(
    cluster: Cluster,
    request: ReplicaRequest,
    model: str | None,
    config: PlaceConfig,
    only: Sequence[int] | None = None,
) -> Spot | None:
    """The best node for one replica among the first `sample` that fit, or None. No change."""
    source = only if only is not None else candidates(cluster, request, model, config.order)
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
        if config.filters and not all(f(node, request) for f in config.filters):
            continue
        found.append((i, picks))
        if len(found) >= config.sample:
            break
    if len(found) <= 1 or not config.scorers:
        return found[0] if found else None
    best, best_score = found[0], float("-inf")
    for spot in found:
        total = sum(w * s.score(nodes[spot[0]], request, spot[1]) for s, w in config.scorers)
        if total > best_score:
            best, best_score = spot, total
    return best


def place_job(
    cluster: Cluster,
    statement: Statement,
    request: ReplicaRequest,
    model: str | None,
    replicas: int,
    config: PlaceConfig,
    only: Sequence[int] | None = None,
) -> tuple[list[Spot] | None, int]:
    """Place every replica (taking capacity into `statement`) or none of them.

    Returns the spots, or None and how many replicas fitted at most (for the wait reason).
    One replica that the cluster's placer covers goes where its policy says (`placer.py`).
    """
    placer = cluster.placer
    if replicas == 1 and only is None and placer is not None and placer.covers(request):
        spot = placer.place(request)
        if spot is not None and config.filters:
            node = cluster.nodes[spot[0]]
            if not all(f(node, request) for f in config.filters):
                spot = place_one(cluster, request, model, config)  # a filter said no: walk
        if spot is None:
            return None, 0
        statement.take(spot[0], amount(request, spot[1]))
        return [spot], 1
    what = kind(request)
    if what == "whole" and model is not None and only is None:
        total = cluster.whole_total.get(model, 0)
        if total < request.accel_count:
            return None, 0
        if total < request.accel_count * replicas:
            return None, total // request.accel_count
        if replicas > 1:
            slots = cluster.whole_slots(model, request.accel_count)
            if slots < replicas:
                return None, slots
    if (
        replicas > 1
        and config.topology
        and only is None
        and model is not None
        and what == "whole"
        and config.order != "first"
    ):
        spots = _in_one_domain(cluster, statement, request, model, replicas, config)
        if spots is not None:
            return spots, replicas
    mark = statement.mark()
    spots = []
    for _ in range(replicas):
        spot = place_one(cluster, request, model, config, only)
        if spot is None:
            statement.rollback(mark)
            return None, len(spots)
        statement.take(spot[0], amount(request, spot[1]))
        spots.append(spot)
    return spots, replicas


def _in_one_domain(
    cluster: Cluster,
    statement: Statement,
    request: ReplicaRequest,
    model: str,
    replicas: int,
    config: PlaceConfig,
) -> list[Spot] | None:
    """A multi-node gang inside one rack, else one pool: the smallest domain that may hold it."""
    need = request.accel_count * replicas
    levels = (
        (cluster.rack_whole[model], cluster.rack_nodes),
        (cluster.pool_whole[model], cluster.pool_nodes),
    )
    for free_by_domain, nodes_of in levels:
        if len(nodes_of) <= 1 and nodes_of is cluster.pool_nodes:
            continue  # one pool is the whole cluster: the global pass does it
        domains = heapq.nsmallest(
            config.max_domains,
            ((free, name) for name, free in free_by_domain.items() if free >= need),
        )
        for _, name in domains:
            mark = statement.mark()
            spots, _ = place_job(
                cluster, statement, request, model, replicas, config, only=nodes_of[name]
            )
            if spots is not None:
                return spots
            statement.rollback(mark)
    return None


def is_share(request: ReplicaRequest) -> bool:
    """A MIG slice or a share of one device (not whole devices)."""
    return request.mig_profile is not None or (
        request.accel_milli is not None and request.accel_milli < 1000
    )
