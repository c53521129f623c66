"""Why a job waits, and when it would start (`estimated_start`): the same scheduler, run forward
on a what-if.

`explain()` runs one cycle for the reasons and the position, then replays the future the way the
scheduler sees it: no new arrivals, running jobs end at their declared end (`started_at +
max_runtime`), preempted jobs after their grace period; each step runs `schedule()` again at the
next end time, applying its binds and preemptions, until the job is bound or reserved. Bounded by
`max_steps`; None when it does not start by then or nothing with a known end is left. By default
only the jobs ahead of it take part (see `estimate_start`). A job whose image needs node labels
(`ReplicaRequest.needs`) is also told which nodes miss them and what they have (`image`); one
that could never fit (`unschedulable`), what each node lacks of it (`lacks`, feasible.lacks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aicc.core.devenvs import unmet
from aicc.scheduler.feasible import lacks
from aicc.scheduler.fit import model_ok, needs_met
from aicc.scheduler.framework import schedule
from aicc.scheduler.profile import Profile
from aicc.scheduler.snapshot import (
    Bind,
    CycleDecision,
    DeviceView,
    JobView,
    NodeView,
    Placement,
    Preempt,
    ReplicaRequest,
    Reserve,
    Snapshot,
    Wait,
    WaitReason,
)


@dataclass(frozen=True)
class Explanation:
    reasons: tuple[WaitReason, ...]
    position: int | None
    estimated_start: datetime | None


def explain(
    snapshot: Snapshot, job_id: str, profile: Profile | str = "default", *, max_steps: int = 32
) -> Explanation:
    """The reasons, queue position and estimated start of pending job `job_id`.

    Raises KeyError when the job is not in `snapshot.pending`.
    """
    if all(j.id != job_id for j in snapshot.pending):
        raise KeyError(job_id)
    decisions = schedule(snapshot, profile)
    mine = [d for d in decisions if d.job_id == job_id]
    if any(isinstance(d, Bind) for d in mine):
        starting = WaitReason("starting", "it fits now and is placed on the next pass")
        return Explanation((starting,), 0, snapshot.now)
    wait = next(d for d in mine if isinstance(d, Wait))
    start = wait.estimated_start
    if start is None:
        start = estimate_start(snapshot, job_id, profile, max_steps=max_steps, first=decisions)
    reasons = wait.reasons
    job = next(j for j in snapshot.pending if j.id == job_id)
    image = image_reason(snapshot.nodes, job.request)
    if image is not None and any(r.code in _PLACEMENT for r in reasons):
        reasons = (image, *reasons) if image.code == "image" else (*reasons, image)
    if any(r.code == "unschedulable" for r in reasons):  # what each node lacks of it
        short = lacks(snapshot.nodes, replace(job.request, needs=()), job.replicas)
        reasons = (*reasons, WaitReason("lacks", short))
    return Explanation(reasons, wait.position, start)


_PLACEMENT = ("unschedulable", "resources", "gang", "reservation")
_SHOWN = 5  # nodes named in the image reason


def image_reason(nodes: Sequence[NodeView], request: ReplicaRequest) -> WaitReason | None:
    """Which nodes with the accelerators a job asks for miss what its image needs, and what
    they have instead; None when the image needs nothing of them (no needs, a CPU-only
    replica, no such node, every one meets them). Code `image` when none meets them (the
    image, not the load, keeps the job waiting), `image_nodes` when only some do."""
    if not request.needs:
        return None
    missed: list[str] = []
    met: list[str] = []
    for node in nodes:
        if not any(model_ok(d, request) for d in node.devices):
            continue  # a node without the accelerators it asks for: the image is not why
        if needs_met(node, request):
            met.append(node.name)
            continue
        found = unmet(request.needs, node.labels)
        if found is None:  # needs_met said no for a replica without accelerators: cannot be
            met.append(node.name)
            continue
        (label, _), have = found
        # names and versions only, no words: the text reads the same in every language
        missed.append(f"{node.name}: {label}={have[:40] if have else '-'}")
    if not missed:
        return None
    wanted = ", ".join(f"{label} >= {minimum}" for label, minimum in request.needs)
    more = len(missed) - _SHOWN
    shown = "; ".join(missed[:_SHOWN]) + (f"; +{more}" if more > 0 else "")
    if not met:
        return WaitReason("image", f"its image needs {wanted}; no node meets it ({shown})")
    extra = len(met) - _SHOWN
    fit = ", ".join(met[:_SHOWN]) + (f" +{extra}" if extra > 0 else "")
    return WaitReason("image_nodes", f"its image needs {wanted}: only {fit} meet it ({shown})")


def estimate_start(
    snapshot: Snapshot,
    job_id: str,
    profile: Profile | str = "default",
    *,
    max_steps: int = 32,
    first: list[CycleDecision] | None = None,
    ahead_only: bool = True,
) -> datetime | None:
    """When the job would be bound if nothing new arrived and jobs ran their declared time.

    With `ahead_only`, the replay leaves out the jobs that come after this one in the first
    cycle's order: much cheaper for a long queue, and exact once the job holds the reservation
    (EASY lets nothing behind it delay it); before that, slightly optimistic.
    """
    snap = snapshot
    grace_ends: dict[str, datetime] = {}
    decisions = first if first is not None else schedule(snap, profile)
    if ahead_only:
        order = [d.job_id for d in decisions if isinstance(d, Bind | Wait)]
        if job_id in order:
            keep = set(order[: order.index(job_id) + 1])
            snap = replace(snap, pending=[j for j in snap.pending if j.id in keep])
    for _ in range(max_steps):
        for d in decisions:
            if d.job_id != job_id:
                continue
            if isinstance(d, Bind):
                return snap.now
            if isinstance(d, Reserve) and d.at is not None:
                return d.at
            if isinstance(d, Wait) and d.estimated_start is not None:
                return d.estimated_start
        advanced = _advance(snap, decisions, grace_ends)
        if advanced is None:
            return None
        snap = advanced
        decisions = schedule(snap, profile)
    return None


def _advance(
    snap: Snapshot, decisions: list[CycleDecision], grace_ends: dict[str, datetime]
) -> Snapshot | None:
    """Apply a cycle's binds and preemptions, then move to the next known end."""
    nodes = {n.name: _copy(n) for n in snap.nodes}
    pending = {j.id: j for j in snap.pending}
    running = {j.id: j for j in snap.running}
    for d in decisions:
        if isinstance(d, Bind) and d.job_id in pending:
            job = pending.pop(d.job_id)
            _hold(nodes, job, d.placements, -1)
            running[job.id] = replace(
                job, started_at=snap.now, placements=d.placements, borrowed=d.borrowed
            )
        elif isinstance(d, Preempt) and d.job_id in running:
            victim = running[d.job_id]
            running[d.job_id] = replace(
                victim, terminating=True, preempted_by=(*victim.preempted_by, d.preemptor)
            )
            grace_ends[d.job_id] = snap.now + timedelta(seconds=d.grace_s)
    ends: dict[str, datetime] = {}
    for job in running.values():
        if job.terminating:
            ends[job.id] = grace_ends.setdefault(job.id, snap.now)
        elif job.max_runtime_s is not None:
            started = job.started_at or snap.now
            ends[job.id] = max(snap.now, started + timedelta(seconds=job.max_runtime_s))
    later = [t for t in ends.values() if t > snap.now]
    if not later and not any(t <= snap.now for t in ends.values()):
        return None
    now = min(later) if later else snap.now
    passed = (now - snap.now).total_seconds()
    for node in nodes.values():  # windows come nearer as the replay moves on
        if node.open_for_s is not None:
            node.open_for_s = max(0.0, node.open_for_s - passed)
    for job_id, end in ends.items():
        if end <= now:
            job = running.pop(job_id)
            _hold(nodes, job, job.placements, +1)
            if job.terminating:  # requeued, as the caller does after the grace period
                pending[job.id] = replace(
                    job, terminating=False, started_at=None, placements=(), borrowed=False
                )
    return replace(
        snap,
        now=now,
        nodes=list(nodes.values()),
        pending=list(pending.values()),
        running=list(running.values()),
    )


def _copy(n: NodeView) -> NodeView:
    return replace(n, devices=[replace(d) for d in n.devices])


def _hold(
    nodes: dict[str, NodeView], job: JobView, placements: tuple[Placement, ...], sign: int
) -> None:
    r = job.request
    for p in placements:
        node = nodes.get(p.node)
        if node is None:
            continue
        node.free_cpu_milli += sign * r.cpu_milli
        node.free_memory_mib += sign * r.memory_mib
        devices = {d.index: k for k, d in enumerate(node.devices)}
        for pick in p.devices:
            k = devices.get(pick.index)
            if k is None:
                continue
            d: DeviceView = node.devices[k]
            if pick.mig_slice is not None:
                mig = tuple(
                    replace(s, used=sign < 0) if s.index == pick.mig_slice else s for s in d.mig
                )
                node.devices[k] = replace(d, mig=mig)
                continue
            d.free_milli += sign * pick.milli
            if d.free_memory_mib is not None and pick.memory_mib is not None:
                d.free_memory_mib += sign * pick.memory_mib
