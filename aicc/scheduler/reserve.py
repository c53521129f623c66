"""A reservation for the job at the head of the line, and EASY backfill around it.

The first job of a cycle that does not fit (after preemption declined) gets a reservation: the
cycle replays the future from declared runtimes only (a running job ends at `started_at +
max_runtime`, a job bound in this cycle at `now + max_runtime`, a preempted one after its grace
period; a job without a declared runtime at an unknown time, after all others), giving back what
each job holds, until the head job fits. That time is `at` (None when it needs jobs of unknown
end); the place it would take there is held:

- on each reserved node, whatever the head job needs beyond what the jobs ending by `at` give
  back is taken out of the free capacity now (a *hold*), so later jobs cannot use it;
- a later job whose declared runtime ends by `at` may use held capacity (it is gone again by
  then): the holds shrink by what it takes. A job without `max_runtime` never does.

So a bind in the same cycle never delays the reserved job's start. Each cycle recomputes the
reservation from scratch; there is nothing to persist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aicc.scheduler.allocate import Spot, place_job
from aicc.scheduler.cluster import Amount, Cluster, Statement
from aicc.scheduler.profile import ReserveConfig
from aicc.scheduler.snapshot import DevicePick, JobView, Placement, ReplicaRequest, Reserve

if TYPE_CHECKING:
    from aicc.scheduler.cycle import Attempt
    from aicc.scheduler.cycle import CycleState as Cycle

DEFAULT_GRACE_S = 30  # how long a job already stopping may take, when the profile has no preempt

Release = tuple[datetime | None, list[tuple[int, Amount]]]


@dataclass
class Reservation:
    job: JobView
    at: datetime | None
    spots: list[Spot]
    holds: dict[int, Amount]  # node -> capacity held now for the job
    # running jobs whose end the reservation counts on: never claimed by a preemptor
    counted: set[str] = field(default_factory=set)
    failed: set[tuple[object, ...]] = field(default_factory=set)  # shapes that cannot backfill

    @property
    def nodes(self) -> list[int]:
        return list(dict.fromkeys(i for i, _ in self.spots))

    def decision(self, cluster: Cluster) -> Reserve:
        placements = tuple(
            Placement(k, cluster.nodes[i].name, picks) for k, (i, picks) in enumerate(self.spots)
        )
        names = tuple(cluster.nodes[i].name for i in self.nodes)
        return Reserve(self.job.id, names, self.at, placements)


def releases(cycle: Cycle) -> list[Release]:
    """What the jobs holding capacity give back, and when, by declared runtimes: soonest first,
    unknown ends last. Jobs promised to a preemptor this cycle give back nothing."""
    out: list[tuple[tuple[int, datetime, str], datetime | None, list[tuple[int, Amount]]]] = []
    now = cycle.now
    index = cycle.cluster.index_of
    for job in cycle.snapshot.running:
        if job.id in cycle.claimed:
            continue
        end = end_of(cycle, job)
        amounts = [
            (index[p.node], Amount(job.request.cpu_milli, job.request.memory_mib, p.devices))
            for p in job.placements
            if p.node in index
        ]
        out.append((_order_key(end, job.started_at or now, job.id), end, amounts))
    for end, job, spots, request in cycle.bound:
        amounts = [(i, Amount(request.cpu_milli, request.memory_mib, picks)) for i, picks in spots]
        out.append((_order_key(end, now, job.id), end, amounts))
    out.sort(key=lambda entry: entry[0])
    return [(end, amounts) for _, end, amounts in out]


def end_of(cycle: Cycle, job: JobView) -> datetime | None:
    """When a running job gives its capacity back, by its declared runtime (None: unknown).
    A job already stopping is gone within the grace period."""
    now = cycle.now
    if job.terminating:
        config = cycle.profile.preempt
        return now + timedelta(seconds=config.grace_s if config is not None else DEFAULT_GRACE_S)
    if job.max_runtime_s is None:
        return None
    return max(now, (job.started_at or now) + timedelta(seconds=job.max_runtime_s))


def _order_key(end: datetime | None, started: datetime, job_id: str) -> tuple[int, datetime, str]:
    return (1, started, job_id) if end is None else (0, end, job_id)


def _steps(found: list[Release], steps: int) -> Iterator[Release]:
    """Group releases by time: the first `steps` times one by one, then doubling chunks (a
    chunk's time is its last release's), then everything of unknown end."""
    groups: list[Release] = []
    for end, amounts in found:
        if groups and groups[-1][0] == end:
            groups[-1][1].extend(amounts)
        else:
            groups.append((end, list(amounts)))
    finite = [g for g in groups if g[0] is not None]
    unknown = [a for g in groups if g[0] is None for a in g[1]]
    yield from finite[:steps]
    at, size = steps, 1
    while at < len(finite):
        chunk = finite[at : at + size]
        yield chunk[-1][0], [a for g in chunk for a in g[1]]
        at += size
        size *= 2
    if unknown:
        yield None, unknown


def make(
    cycle: Cycle, job: JobView, attempts: list[Attempt], config: ReserveConfig
) -> Reservation | None:
    """Reserve the earliest place for `job` by declared runtimes, and hold it. None if it
    never fits (not even once everything known ends)."""
    cluster = cycle.cluster
    statement = Statement(cluster)
    released: list[tuple[datetime | None, list[tuple[int, Amount]]]] = []
    found: tuple[datetime | None, list[Spot]] | None = None
    for at, amounts in _steps(releases(cycle), config.steps):
        for i, amount in amounts:
            statement.give(i, amount)
        released.append((at, amounts))
        for req, model in attempts:
            spots, _ = place_job(cluster, statement, req, model, job.replicas, cycle.profile.place)
            if spots is not None:
                found = (at, spots)
                break
        if found is not None:
            break
    statement.discard()
    if found is None:
        return None
    at, spots = found
    if at is None and not config.hold_unknown:
        return None
    request = job.request
    back = _released_on({i for i, _ in spots}, (a for _, amounts in released for a in amounts))
    holds: dict[int, Amount] = {}
    for i in dict.fromkeys(i for i, _ in spots):
        mine = [picks for j, picks in spots if j == i]
        need = Amount(
            request.cpu_milli * len(mine),
            request.memory_mib * len(mine),
            tuple(p for picks in mine for p in picks),
        )
        hold = _less(need, back.get(i, Amount(0, 0)), cluster, i)
        if hold.cpu_milli or hold.memory_mib or hold.picks:
            cluster.take(i, hold)
            holds[i] = hold
    reserved = {cluster.nodes[i].name for i, _ in spots}
    counted = set()
    for running in cycle.snapshot.running:
        end = end_of(cycle, running)
        if (at is None or (end is not None and end <= at)) and any(
            p.node in reserved for p in running.placements
        ):
            counted.add(running.id)
    return Reservation(job, at, spots, holds, counted)


def _released_on(nodes: set[int], amounts: Iterable[tuple[int, Amount]]) -> dict[int, Amount]:
    out: dict[int, tuple[int, int, list[DevicePick]]] = {}
    for i, a in amounts:
        if i not in nodes:
            continue
        cpu, mem, picks = out.get(i, (0, 0, []))
        out[i] = (cpu + a.cpu_milli, mem + a.memory_mib, [*picks, *a.picks])
    return {i: Amount(cpu, mem, tuple(picks)) for i, (cpu, mem, picks) in out.items()}


def _less(need: Amount, back: Amount, cluster: Cluster, i: int) -> Amount:
    """`need` minus `back`, per resource and per device, never below zero: what to hold now.
    A MIG slice is held only while it is free now (else it is one that comes back)."""
    milli: dict[int, int] = {}
    memory: dict[int, int] = {}
    slices: list[DevicePick] = []
    for p in need.picks:
        if p.mig_slice is not None:
            pos = cluster.pos[i].get(p.index)
            if pos is not None and p.mig_slice in cluster.mig_free[i][pos]:
                slices.append(p)
            continue
        milli[p.index] = milli.get(p.index, 0) + p.milli
        if p.memory_mib is not None:
            memory[p.index] = memory.get(p.index, 0) + p.memory_mib
    for p in back.picks:
        if p.mig_slice is None:
            if p.index in milli:
                milli[p.index] -= p.milli
            if p.index in memory and p.memory_mib is not None:
                memory[p.index] -= p.memory_mib
    picks = [
        DevicePick(d, max(0, m), max(0, memory[d]) if d in memory else None)
        for d, m in milli.items()
        if m > 0 or memory.get(d, 0) > 0
    ]
    return Amount(
        max(0, need.cpu_milli - back.cpu_milli),
        max(0, need.memory_mib - back.memory_mib),
        tuple(picks) + tuple(slices),
    )


def backfill(
    cycle: Cycle, job: JobView, attempts: list[Attempt], key: tuple[object, ...]
) -> tuple[list[Spot], ReplicaRequest] | None:
    """Place a job that ends before the reservation on the reserved nodes, using held capacity;
    the holds shrink by what it takes. None (and nothing changed) if it does not fit there."""
    res = cycle.reservation
    if res is None or key in res.failed:
        return None
    cluster = cycle.cluster
    statement = Statement(cluster)
    for i, hold in res.holds.items():
        statement.give(i, hold)
    nodes = res.nodes
    for req, model in attempts:
        spots, _ = place_job(
            cluster, statement, req, model, job.replicas, cycle.profile.place, only=nodes
        )
        if spots is None:
            continue
        for i, hold in list(res.holds.items()):
            mine = [picks for j, picks in spots if j == i]
            taken = Amount(
                req.cpu_milli * len(mine),
                req.memory_mib * len(mine),
                tuple(p for ps in mine for p in ps),
            )
            left = _less(hold, taken, cluster, i)
            if left.cpu_milli or left.memory_mib or left.picks:
                statement.take(i, left)
                res.holds[i] = left
            else:
                del res.holds[i]
        statement.commit()
        return spots, req
    statement.discard()
    res.failed.add(key)
    return None


def fits_reserved(
    cycle: Cycle, job: JobView, attempts: list[Attempt], key: tuple[object, ...]
) -> bool:
    """Would the job fit on the reserved nodes were nothing held? (Why it waits: `reservation`.)"""
    res = cycle.reservation
    if res is None or not res.holds or key in res.failed:
        return False
    cluster = cycle.cluster
    statement = Statement(cluster)
    with cluster.what_if():
        try:
            for i, hold in res.holds.items():
                statement.give(i, hold)
            for req, model in attempts:
                spots, _ = place_job(
                    cluster,
                    statement,
                    req,
                    model,
                    job.replicas,
                    cycle.profile.place,
                    only=res.nodes,
                )
                if spots is not None:
                    return True
            res.failed.add(key)  # capacity there only shrinks in a cycle: it fails again
            return False
        finally:
            statement.discard()
