"""The queue sort extension point: the order in which a cycle considers the waiting jobs.

Static job scores (priority, aging, service levels: the profile's `queue_sort` plugins) plus a
per-project share score (fair share) recomputed after every bind of that project; optionally
jobs that stay within their project's guarantee go before jobs that would borrow (Kueue's
order). Nominated jobs (whose victims are still stopping) go first of all.

A priority number is its submitter's: it orders its own project's jobs as it is, but where a
project's next job meets other projects' it counts at most as `high` and at least as `low`
(the center's classes), so `priority: 2147483647` cannot put one tenant's work ahead of every
other tenant's (issue 35). Jobs within the classes are ordered exactly as before.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Callable, Container, Iterator, Mapping
from datetime import datetime

from aicc.core.jobspec import PRIORITIES
from aicc.scheduler.cycle import CycleState
from aicc.scheduler.snapshot import JobView


def order(cycle: CycleState, skip: Container[str] = ()) -> Iterator[JobView]:
    """The waiting jobs in the order the cycle considers them (lazily: shares change as the
    cycle binds), but for those in `skip`."""
    profile = cycle.profile
    pending = [job for job in cycle.snapshot.pending if job.id not in skip]
    totals = static_totals(pending, cycle)
    static = dict(zip([job.id for job in pending], totals, strict=True))

    # what a priority beyond the classes loses where projects meet
    weight = sum(w for p, w in profile.queue_sort if p.name == "priority")
    low, high = min(PRIORITIES.values()), max(PRIORITIES.values())
    across = {
        job.id: static[job.id] - weight * (job.priority - min(max(job.priority, low), high))
        for job in pending
        if weight and not low <= job.priority <= high
    }
    first = nominated(cycle)

    def job_key(job: JobView) -> tuple[bool, float, datetime, str]:
        return (job.id not in first, -static[job.id], job.submitted_at, job.id)

    tiers = profile.guaranteed_first and bool(cycle.tree.governed)
    if len(static) == len(pending):  # ids unique: each job's own total is static[job.id]
        negated = [-t for t in totals]
    else:
        negated = [-static[job.id] for job in pending]
    ordered, negated = _in_key_order(pending, negated, static, first, job_key)
    if not profile.share and not tiers and not across:
        yield from ordered
        return
    # per project, its jobs in order and their static scores (negated) alongside, as doubles
    # in a row: read in order with the job, not looked up by id in a dict of every job (nor
    # as float objects scattered in memory) at each key
    queues: dict[str, list[JobView]] = {}
    scores: dict[str, array[float]] = {}
    for job, minus in zip(ordered, negated, strict=True):
        project = job.project_id
        queue = queues.get(project)
        if queue is None:
            queue = queues[project] = []
            scores[project] = array("d")
        queue.append(job)
        scores[project].append(minus)
    head = dict.fromkeys(queues, 0)

    def project_key(project: str) -> tuple[bool, int, float, datetime, str, str]:
        at = head[project]
        job = queues[project][at]
        version = cycle.version[project]  # shares and tiers change only with usage
        tier = 0
        if tiers:
            tier_key = (project, version, cycle.shape(job.request))
            known = cycle.tiers.get(tier_key)
            if known is None:
                demand = cycle.demand(job, cycle.first_model(job))
                known = 0 if cycle.tree.within_guarantee(project, demand) else 1
                cycle.tiers[tier_key] = known
            tier = known
        cached = cycle.share_keys.get(project)
        if cached is not None and cached[0] == version:
            share = cached[1]
        else:
            share = 0.0
            for plugin, weight in profile.share:
                share += weight * plugin.share(project, cycle)
            cycle.share_keys[project] = (version, share)
        score = -scores[project][at]  # static[job.id]: negation is exact
        if across:
            score = across.get(job.id, score)
        return (job.id not in first, tier, -(score + share), job.submitted_at, job.id, project)

    heap = [project_key(p) for p in queues]
    heapq.heapify(heap)
    while heap:
        project = heap[0][-1]  # keys are unique (job ids): the same order as pop, then push
        job = queues[project][head[project]]
        head[project] += 1
        yield job
        if head[project] < len(queues[project]):
            heapq.heapreplace(heap, project_key(project))
        else:
            heapq.heappop(heap)


def static_scores(pending: list[JobView], cycle: CycleState) -> dict[str, float]:
    """Each job's summed `queue_sort` scores, by job id (`static_totals`)."""
    return dict(zip([job.id for job in pending], static_totals(pending, cycle), strict=True))


def static_totals(pending: list[JobView], cycle: CycleState) -> list[float]:
    """Each job's summed `queue_sort` scores, in the order of `pending`, one plugin at a time
    over all the jobs: the same additions in the same order as
    `sum(w * p.score(job, cycle) for p, w in queue_sort)`."""
    totals: list[float] = [0] * len(pending)
    for plugin, weight in cycle.profile.queue_sort:
        score = plugin.score
        totals = [t + weight * score(job, cycle) for t, job in zip(totals, pending, strict=True)]
    return totals


def in_key_order(
    pending: list[JobView],
    static: Mapping[str, float],
    first: Container[str],
    key: Callable[[JobView], tuple[bool, float, datetime, str]],
) -> list[JobView]:
    """`sorted(pending, key=key)`, `key` being the queue's: (not nominated, -static score,
    submitted, id). Where no job is nominated and no score is NaN, the same order from a sort
    by the scores alone (floats compared in C, without a key tuple per job: most of the sort's
    time before), each run of equal scores then sorted by (submitted, id)."""
    negated = [-static[job.id] for job in pending]
    return _in_key_order(pending, negated, static, first, key)[0]


def _in_key_order(
    pending: list[JobView],
    negated: list[float],
    static: Mapping[str, float],
    first: Container[str],
    key: Callable[[JobView], tuple[bool, float, datetime, str]],
) -> tuple[list[JobView], list[float]]:
    """`in_key_order` given each job's static score negated (`negated`, as `pending`), and
    those scores in the order it returns."""
    if first or any(t != t for t in negated):  # NaN: the tuples' order, as it always was
        ordered = sorted(pending, key=key)
        return ordered, [-static[job.id] for job in ordered]
    at = sorted(range(len(pending)), key=negated.__getitem__)  # stable
    ordered = list(map(pending.__getitem__, at))
    scores = list(map(negated.__getitem__, at))
    start = end = -1  # a run of equal scores: ordered[start : end + 1]
    for k in [k for k in range(1, len(scores)) if scores[k] == scores[k - 1]]:
        if k != end + 1:
            _by_the_rest(ordered, start, end)
            start = k - 1
        end = k
    _by_the_rest(ordered, start, end)  # within runs of equal scores: `scores` still holds
    return ordered, scores


def _by_the_rest(jobs: list[JobView], start: int, end: int) -> None:
    """Sort jobs[start : end + 1] (jobs of equal scores) by (submitted, id); most are pairs."""
    if end - start == 1:
        a, b = jobs[start], jobs[end]
        if (b.submitted_at, b.id) < (a.submitted_at, a.id):
            jobs[start], jobs[end] = b, a
    elif end > start:
        jobs[start : end + 1] = sorted(jobs[start : end + 1], key=_rest)


def _rest(job: JobView) -> tuple[datetime, str]:
    return (job.submitted_at, job.id)


def nominated(cycle: CycleState) -> set[str]:
    """Waiting jobs whose victims have not started again: they go first, so the capacity
    they freed is theirs (kube-scheduler's nominated pods). Without this, jobs ahead in the
    queue would take it and the preemptor would preempt again every grace period. A
    preemptor that has run since its victim stopped has had that capacity: it is not
    nominated again by that victim (else, preempted in turn, it would go first and take
    back the node its own preemptor freed, which then preempts again, without end)."""
    snapshot = cycle.snapshot
    pending = {j.id: j for j in snapshot.pending}
    out = {j.preempted_by[-1] for j in snapshot.running if j.terminating and j.preempted_by}
    for victim in snapshot.pending:
        if not victim.preempted_by:
            continue
        preemptor = pending.get(victim.preempted_by[-1])
        if preemptor is None:
            continue
        ran_since = (
            preemptor.queued_at is not None
            and victim.queued_at is not None
            and preemptor.queued_at > victim.queued_at
        )
        if not ran_since:
            out.add(preemptor.id)
    return out & pending.keys()
