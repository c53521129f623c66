"""Where replicas go: the one entry point of placement (`place_job`), gangs placed whole
(topology first: one rack, then one pool, then anywhere; a gang whose spec says `topology:
rack` or `pool` in one such domain only) or not at all, each replica by the
profile's chain of placement policies (`place_replica`): its vector policy (`placer.py`, over
`placement/`) where that covers the replica, else the `indexed` walk (`indexed.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aicc.scheduler.cluster import Amount, Cluster, Statement
from aicc.scheduler.indexed import IndexedPolicy, NodeFilter, Picks, Spot, kind
from aicc.scheduler.plugins.score import Scorer
from aicc.scheduler.snapshot import ReplicaRequest

__all__ = ["PlaceConfig", "Spot", "amount", "place_job", "place_replica"]


@dataclass(frozen=True)
class PlaceConfig:
    """How a profile places replicas.

    `order`: `pack` walks the index fullest first, `spread` emptiest first, `first` walks the
    nodes in snapshot order (first fit). `sample`: feasible nodes scored per replica (1: take
    the first). `topology`: try one rack, then one pool, for multi-node gangs of whole devices,
    at most `max_domains` of each, best fit first. `policy`: a placement-package policy
    (`fgd-plus`, ...) that places what it covers (one replica, no MIG slice: `placer.py`) over
    every node; the rest goes to the `indexed` walk (`indexed`: order, sample, scorers, filters).
    """

    order: str = "pack"
    sample: int = 4
    scorers: tuple[tuple[Scorer, float], ...] = ()
    filters: tuple[NodeFilter, ...] = ()
    topology: bool = True
    max_domains: int = 8
    policy: str | None = None
    indexed: IndexedPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        walk = IndexedPolicy(self.order, self.sample, self.scorers, self.filters)
        object.__setattr__(self, "indexed", walk)  # the `indexed` policy of this profile


def amount(request: ReplicaRequest, picks: Picks) -> Amount:
    return Amount(request.cpu_milli, request.memory_mib, picks)


def place_replica(
    cluster: Cluster,
    request: ReplicaRequest,
    model: str | None,
    config: PlaceConfig,
    only: Sequence[int] | None = None,
    *,
    alone: bool = False,
) -> Spot | None:
    """One replica by the profile's chain of placement policies, or None. No change.

    The vector policy (`cluster.placer`, the profile's `placement.policy`) when it covers the
    replica: a job of one replica (`alone`) over every node (no `only`), no MIG slice; if a
    filter plugin, a window or a lease refuses its node, the walk decides. The `indexed` policy
    otherwise."""
    vector = cluster.placer
    if alone and only is None and vector is not None and vector.covers(request):
        spot = vector.place(request)
        if spot is None or config.indexed.allows(cluster.nodes[spot[0]], request):
            return spot  # else a filter said no: the walk decides
    return config.indexed.place(cluster, request, model, only)


def place_job(
    cluster: Cluster,
    statement: Statement,
    request: ReplicaRequest,
    model: str | None,
    replicas: int,
    config: PlaceConfig,
    only: Sequence[int] | None = None,
    *,
    inside: bool = False,
) -> tuple[list[Spot] | None, int]:
    """Place every replica (taking capacity into `statement`) or none of them.

    Returns the spots, or None and how many replicas fitted at most (for the wait reason).
    One replica that the cluster's placer covers goes where its policy says (`placer.py`).
    A gang that must stay in one domain (`request.within`) is placed in one or not at all
    (`inside`: the nodes given are one domain's already).
    """
    if replicas > 1 and request.within is not None and not inside:
        return _within(cluster, statement, request, model, replicas, config, only)
    placer = cluster.placer
    if replicas == 1 and only is None and placer is not None and placer.covers(request):
        spot = place_replica(cluster, request, model, config, alone=True)
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
        spot = place_replica(cluster, request, model, config, only)
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
        for _, name in smallest_domains(free_by_domain, need, config.max_domains):
            mark = statement.mark()
            spots, _ = place_job(
                cluster, statement, request, model, replicas, config, only=nodes_of[name]
            )
            if spots is not None:
                return spots
            statement.rollback(mark)
    return None


def domains(cluster: Cluster, within: str) -> dict[str, list[int]]:
    """The nodes of each domain of a level (`rack`: nodes without a rack label are in none)."""
    return cluster.rack_nodes if within == "rack" else cluster.pool_nodes


def _within(
    cluster: Cluster,
    statement: Statement,
    request: ReplicaRequest,
    model: str | None,
    replicas: int,
    config: PlaceConfig,
    only: Sequence[int] | None,
) -> tuple[list[Spot] | None, int]:
    """A gang in one domain of its level (`request.within`) or nowhere: for whole devices of
    one model the domains with enough free devices, fewest first (best fit); else every domain
    by name. Returns, when none holds it, the most replicas one domain fitted."""
    assert request.within is not None
    nodes_of = domains(cluster, request.within)
    if model is not None and kind(request) == "whole":
        free = cluster.rack_whole if request.within == "rack" else cluster.pool_whole
        need = request.accel_count * replicas
        names = [name for _, name in smallest_domains(free.get(model, {}), need, len(nodes_of))]
        if not names:  # no domain has the devices: how many replicas the best could hold
            most = max(free.get(model, {}).values(), default=0)
            return None, min(replicas - 1, most // max(1, request.accel_count))
    else:
        names = sorted(nodes_of)
    allowed = None if only is None else set(only)
    fitted = 0
    for name in names:
        nodes = nodes_of[name]
        if allowed is not None:
            nodes = [i for i in nodes if i in allowed]
            if not nodes:
                continue
        spots, count = place_job(
            cluster, statement, request, model, replicas, config, nodes, inside=True
        )
        if spots is not None:
            return spots, replicas
        fitted = max(fitted, count)
    return None, fitted


def smallest_domains(free_by_domain: dict[str, int], need: int, k: int) -> list[tuple[int, str]]:
    """The `k` domains of least free devices that have at least `need`, as (free, name),
    smallest first (ties by name): exactly `heapq.nsmallest(k, (free, name) ...)`, without a
    Python step per domain (a rack per 16 nodes: some 600 at 10,000 nodes, asked per gang).
    The k-th smallest free count bounds the candidates: all below it, and the first names of
    those at it."""
    if k <= 0:
        return []
    frees = [free for free in free_by_domain.values() if free >= need]
    if len(frees) <= k:
        found = [(free, name) for name, free in free_by_domain.items() if free >= need]
        found.sort()
        return found
    frees.sort()
    cut = frees[k - 1]
    below = []  # none when the k smallest are all equal
    if frees[0] < cut:
        below = [(free, name) for name, free in free_by_domain.items() if need <= free < cut]
        below.sort()
    at = [name for name, free in free_by_domain.items() if free == cut]
    at.sort()
    return below + [(cut, name) for name in at[: k - len(below)]]
