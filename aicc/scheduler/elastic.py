"""Elastic jobs (`replicas: {min, max}`): they grow into capacity nothing waiting wants, and a
waiting job takes that capacity back by shrinking them, down to their minimum, instead of
preempting them (torchrun's elastic rendezvous carries training on over the change).

- `grow`, once a cycle after the queue: only when no job waits for capacity (its first reason
  `resources`, `gang`, `reservation` or `preempting`), each running elastic job, highest
  priority first, gets as many replicas up to its maximum as fit its project's quota and the
  nodes it already runs on (its replicas there share the job's network; growing onto a new
  node is not done), in one `Grow` (one restart of its workers, not one per replica).
- `shrink`, an action at the `unfit` stage before `preempt`: the replicas above their minimum
  are idle capacity lent, so a job that does not fit takes them back: its own project's only
  from jobs of no higher priority (a priority orders a project's own work), another project's
  always. Newest replicas first (the rendezvous lives with replica 0), of the lowest priority
  first; the fewest that let the job fit, in `Shrink` decisions; the job then waits for them to
  stop, as a preemptor for its victims, and asks for no more while they are stopping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from aicc.scheduler.allocate import amount, place_job
from aicc.scheduler.cluster import Statement
from aicc.scheduler.cycle import Attempt, CycleState, Trial
from aicc.scheduler.quota import held_demand
from aicc.scheduler.snapshot import Grow, JobView, Placement, Shrink, Wait, WaitReason

CAPACITY = frozenset({"resources", "gang", "reservation", "preempting"})


def grow(cycle: CycleState) -> None:
    """Append a `Grow` for each running elastic job that idle capacity lets grow."""
    growing = [
        job
        for job in cycle.snapshot.running
        if job.elastic is not None
        and not job.terminating
        and not job.releasing
        and job.id not in cycle.claimed
        and job.replicas < job.elastic[1]
    ]
    if not growing or any(
        isinstance(d, Wait) and d.reasons and d.reasons[0].code in CAPACITY for d in cycle.decisions
    ):
        return
    for job in sorted(growing, key=lambda j: (-j.priority, j.submitted_at, j.id)):
        _grow(cycle, job)


def _grow(cycle: CycleState, job: JobView) -> None:
    assert job.elastic is not None
    cluster = cycle.cluster
    nodes = sorted({cluster.index_of[p.node] for p in job.placements if p.node in cluster.index_of})
    if not nodes:
        return
    model = _model(cycle, job)
    for more in range(job.elastic[1] - job.replicas, 0, -1):
        statement = Statement(cluster)
        spots, _ = place_job(
            cluster, statement, job.request, model, more, cycle.profile.place, only=nodes
        )
        if spots is None:
            continue
        demand = held_demand(job.request, spots, cluster.device_model)
        if cycle.tree.over_max(job.project_id, demand) is not None:
            statement.discard()
            continue
        statement.commit()
        cycle.charge(job.project_id, demand)
        cycle.allocate(job.project_id, demand)
        after = max(p.replica for p in job.placements) + 1
        names = cluster.nodes
        placed = tuple(
            Placement(after + k, names[i].name, picks) for k, (i, picks) in enumerate(spots)
        )
        cycle.decisions.append(Grow(job.id, placed))
        return


def _model(cycle: CycleState, job: JobView) -> str | None:
    """The accelerator model the job runs on (its new replicas use the same), or None."""
    for p in job.placements:
        for pick in p.devices:
            return cycle.model_of(p.node, pick.index)
    return None


def _lent(cycle: CycleState, job: JobView) -> Iterator[tuple[JobView, Placement]]:
    """The replicas above their minimum that `job` may take back, cheapest first (not those an
    earlier job of this cycle took back: they are that job's)."""
    taken = _taken(cycle)
    found = []
    for other in cycle.snapshot.running:
        if other.elastic is None or other.terminating or other.protected or other.id == job.id:
            continue
        if other.project_id == job.project_id and other.priority > job.priority:
            continue
        for p in other.placements:
            mine = p.replica >= other.elastic[0] and p.replica not in other.releasing
            if mine and (other.id, p.replica) not in taken:
                found.append((other.priority, -p.replica, other.id, other, p))
    for *_, other, p in sorted(found, key=lambda f: f[:3]):
        yield other, p


def _taken(cycle: CycleState) -> set[tuple[str, int]]:
    """(job, replica) this cycle's shrinks took back."""
    return cycle.scratch("elastic.taken", set)


def _releasing(cycle: CycleState) -> Iterator[tuple[JobView, Placement]]:
    for other in cycle.snapshot.running:
        for p in other.placements:
            if p.replica in other.releasing:
                yield other, p


def shrink(cycle: CycleState, trial: Trial) -> bool:
    """The action: take back lent replicas for `trial.job` when that lets it fit."""
    job = trial.job
    stopping = list(_releasing(cycle))
    lent = list(_lent(cycle, job))
    if not stopping and not lent:
        return False
    cluster = cycle.cluster
    with cluster.what_if():
        statement = Statement(cluster)
        for other, p in stopping:  # replicas stopping already: does the job fit once they have?
            statement.give(cluster.index_of[p.node], amount(other.request, p.devices))
        if stopping and _fits(cycle, statement, trial.attempts, job):
            statement.discard()
            why = f"waits for {len(stopping)} replica(s) of elastic jobs to stop"
            cycle.wait(job, [WaitReason("preempting", why), *trial.reasons], _soon(cycle))
            return True
        taken: dict[str, list[int]] = {}
        fits = False
        for other, p in lent:
            statement.give(cluster.index_of[p.node], amount(other.request, p.devices))
            taken.setdefault(other.id, []).append(p.replica)
            if _fits(cycle, statement, trial.attempts, job):
                fits = True
                break
        statement.discard()
    if not fits:
        return False
    count = sum(len(r) for r in taken.values())
    for other_id, replicas in taken.items():
        cycle.decisions.append(Shrink(other_id, tuple(sorted(replicas)), job.id))
        _taken(cycle).update((other_id, r) for r in replicas)
        cycle.claimed.add(other_id)
    why = f"waits for {count} replica(s) of elastic jobs to stop (shrunk for it)"
    cycle.wait(job, [WaitReason("preempting", why), *trial.reasons], _soon(cycle))
    return True


def _fits(cycle: CycleState, statement: Statement, attempts: list[Attempt], job: JobView) -> bool:
    for request, model in attempts:
        mark = statement.mark()
        spots, _ = place_job(
            cycle.cluster, statement, request, model, job.replicas, cycle.profile.place
        )
        statement.rollback(mark)
        if spots is not None:
            return True
    return False


def _soon(cycle: CycleState) -> datetime:
    """When the job may start: once the replicas had their grace period to stop."""
    grace = cycle.profile.preempt.grace_s if cycle.profile.preempt is not None else 30
    return cycle.now + timedelta(seconds=grace)
