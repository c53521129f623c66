"""Recent usage per project for fair share, computed from the replicas' own history.

Each replica held its resources at a constant rate from its start to its end (or now). With usage
that halves every `half_life_s`, what an interval [s, e] leaves at `now` is exact in closed form:
`rate * tau * (2^-(now-e)/h - 2^-(now-s)/h)`, `tau = h / ln 2`. Being derived from the store, it
needs no state between cycles and survives a restart unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.scheduler.quota import pflops_of, placed_demand
from aicc.scheduler.snapshot import DevicePick, Placement, ReplicaRequest, Usage
from aicc.services.common import Forbidden
from aicc.services.nodes import census as node_census
from aicc.store.tables.jobs import EventRow, JobRow, ReplicaRow

HORIZON_HALF_LIVES = 6  # older usage weighs under 2%: not read


def decayed(session: Session, now: datetime, *, half_life_s: float) -> dict[str, Usage]:
    since = now - timedelta(seconds=half_life_s * HORIZON_HALF_LIVES)
    rows = session.execute(
        select(ReplicaRow, JobRow.project_id)
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(
            ReplicaRow.started_at.is_not(None),
            or_(ReplicaRow.ended_at.is_(None), ReplicaRow.ended_at >= since),
        )
    ).all()
    if not rows:
        return {}
    models = node_census.models(session)
    names = node_census.names_by_id(session)
    tau = half_life_s / math.log(2)
    totals: dict[str, dict[str, float]] = {}
    for rep, project in rows:
        # nothing ran after now: a time ahead of it (an engine's clock) counts as now
        start, end = min(rep.started_at or now, now), min(rep.ended_at or now, now)
        weight = tau * (
            2 ** (-(now - end).total_seconds() / half_life_s)
            - 2 ** (-(now - start).total_seconds() / half_life_s)
        )
        if weight <= 0:
            continue
        picks = tuple(DevicePick(d["index"], d["milli"]) for d in rep.devices)
        request = ReplicaRequest(rep.cpu_milli, rep.memory_mib)
        rate = placed_demand(
            request,
            [Placement(rep.index, names.get(rep.node_id, ""), picks)],
            lambda node, index: models.get((node, index)),
        )
        held = totals.setdefault(project, {})
        for key, value in rate.items():
            held[key] = held.get(key, 0.0) + value * weight
    return {project: Usage(at=now, values=values) for project, values in totals.items()}


# --- what tenants hold now, and the center's recent history (the portal's quota and overview
# pages). Both read only the store: replica rows say which devices were held from when to when,
# job events when jobs waited. Nothing is sampled or kept between calls. ---

WAITING_STATES = ("pending", "admitted")
HOLDING_STATES = ("scheduled", "running")


def held_now(session: Session) -> dict[str, dict[str, float]]:
    """project id -> what its placed replicas hold now, keyed like quotas (`cpu_milli`,
    `memory_mib`, each accelerator model in milli, `pflops`). Every project of the center:
    callers show only what their caller may read (`quotas.standings` does)."""
    rows = session.execute(
        select(ReplicaRow, JobRow.project_id)
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(ReplicaRow.state.in_(HOLDING_STATES))
    ).all()
    devices = _devices(session)
    totals: dict[str, dict[str, float]] = {}
    for rep, project_id in rows:
        held = totals.setdefault(project_id, {})
        held["cpu_milli"] = held.get("cpu_milli", 0.0) + rep.cpu_milli
        held["memory_mib"] = held.get("memory_mib", 0.0) + rep.memory_mib
        for pick in rep.devices:
            device = devices.get((rep.node_id, pick["index"]))
            if device is None:
                continue
            model, _ = device
            held[model] = held.get(model, 0.0) + pick["milli"]
            held["pflops"] = held.get("pflops", 0.0) + pick["milli"] / 1000 * pflops_of(model)
    return totals


@dataclass
class TenantUse:
    """One organization's use over a window: device-seconds (real and simulated devices kept
    apart, docs/contracts.md §8), PFLOPS-seconds of real devices, CPU core-seconds."""

    device_s: float = 0.0
    simulated_device_s: float = 0.0
    pflops_s: float = 0.0
    cpu_s: float = 0.0


@dataclass(frozen=True)
class History:
    """The center over the window ending `ends[-1]`, in equal buckets ending at `ends`.

    `allocated_milli` and `busy_milli` are the device share held on average in each bucket
    (allocated: from bind to end; busy: from the replica's start to its end), keyed by whether
    the devices are simulated. `capacity_milli` is what is installed now: no capacity history is
    stored, so rates over time divide by today's capacity. `queue_depth` is the number of
    waiting jobs at each bucket's end; `waits_s` the pending-to-running time of every attempt
    that started running in the window. `*_now_milli` are the same figures at `ends[-1]`."""

    ends: list[datetime]
    capacity_milli: dict[bool, int]
    allocated_milli: dict[bool, list[float]]
    busy_milli: dict[bool, list[float]]
    allocated_now_milli: dict[bool, int]
    busy_now_milli: dict[bool, int]
    queue_depth: list[int]
    waits_s: list[float]
    by_org: dict[str, TenantUse]


def center_history(
    session: Session, who: Principal, now: datetime, *, window_s: float, buckets: int
) -> History:
    """Operators only (Forbidden otherwise): the whole center is in it."""
    if not who.is_admin:
        raise Forbidden("only center admins read the center's history")
    step = window_s / buckets
    since = now - timedelta(seconds=window_s)
    ends = [since + timedelta(seconds=step * (i + 1)) for i in range(buckets)]
    devices = _devices(session)
    capacity = {False: 0, True: 0}
    for _, simulated in devices.values():
        capacity[simulated] += 1000
    allocated = {False: [0.0] * buckets, True: [0.0] * buckets}
    busy = {False: [0.0] * buckets, True: [0.0] * buckets}
    allocated_now, busy_now = {False: 0, True: 0}, {False: 0, True: 0}
    by_org: dict[str, TenantUse] = {}
    rows = session.execute(
        select(ReplicaRow, JobRow.org_id)
        .join(JobRow, JobRow.id == ReplicaRow.job_id)
        .where(
            ReplicaRow.bound_at <= now,
            or_(ReplicaRow.ended_at.is_(None), ReplicaRow.ended_at > since),
        )
    ).all()
    for rep, org_id in rows:
        end = rep.ended_at or now
        milli = {False: 0, True: 0}
        pflops = 0.0
        for pick in rep.devices:
            model, simulated = devices.get((rep.node_id, pick["index"]), ("", False))
            milli[simulated] += pick["milli"]
            if not simulated:
                pflops += pick["milli"] / 1000 * pflops_of(model)
        for simulated, amount in milli.items():
            if amount and rep.ended_at is None:
                allocated_now[simulated] += amount
                busy_now[simulated] += amount if rep.started_at is not None else 0
            if amount:
                _spread(allocated[simulated], rep.bound_at, end, amount, since, step)
                if rep.started_at is not None:
                    _spread(busy[simulated], rep.started_at, end, amount, since, step)
        held_s = _overlap(rep.bound_at, end, since, now)
        use = by_org.setdefault(org_id, TenantUse())
        use.device_s += milli[False] / 1000 * held_s
        use.simulated_device_s += milli[True] / 1000 * held_s
        use.pflops_s += pflops * held_s
        use.cpu_s += rep.cpu_milli / 1000 * held_s
    return History(
        ends=ends,
        capacity_milli=capacity,
        allocated_milli=allocated,
        busy_milli=busy,
        allocated_now_milli=allocated_now,
        busy_now_milli=busy_now,
        queue_depth=_queue_depth(session, since, ends),
        waits_s=_waits(session, since),
        by_org=by_org,
    )


def _devices(session: Session) -> dict[tuple[str, int], tuple[str, bool]]:
    """(node id, device index) -> (model, simulated) for every registered device."""
    return {(d.node_id, d.index): (d.model, d.simulated) for d in node_census.devices(session)}


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds())


def _spread(
    into: list[float], start: datetime, end: datetime, amount: float, since: datetime, step: float
) -> None:
    """Add `amount`, held from `start` to `end`, to each bucket as its time-weighted average."""
    first = max(0, int((start - since).total_seconds() // step))
    for i in range(first, len(into)):
        lo = since + timedelta(seconds=step * i)
        if lo >= end:
            break
        into[i] += amount * _overlap(start, end, lo, lo + timedelta(seconds=step)) / step


def _queue_depth(session: Session, since: datetime, ends: list[datetime]) -> list[int]:
    """Waiting jobs at each instant of `ends`: today's count, unwound through the events since."""
    depth = (
        session.scalar(
            select(func.count()).select_from(JobRow).where(JobRow.state.in_(WAITING_STATES))
        )
        or 0
    )
    events = session.execute(
        select(EventRow.at, EventRow.from_state, EventRow.to_state)
        .where(
            EventRow.at > since,
            or_(EventRow.to_state.in_(WAITING_STATES), EventRow.from_state.in_(WAITING_STATES)),
        )
        .order_by(EventRow.at.desc())
    ).all()
    out = [0] * len(ends)
    at = 0
    for i in range(len(ends) - 1, -1, -1):
        while at < len(events) and events[at][0] > ends[i]:
            _, before, after = events[at]
            depth -= (after in WAITING_STATES) - (before in WAITING_STATES)
            at += 1
        out[i] = max(0, depth)
    return out


def _waits(session: Session, since: datetime) -> list[float]:
    """Seconds from entering `pending` to `running`, per attempt that started since `since`."""
    started = session.execute(
        select(EventRow.job_id, EventRow.attempt, EventRow.at).where(
            EventRow.to_state == "running", EventRow.at >= since
        )
    ).all()
    if not started:
        return []
    entered: dict[tuple[str | None, int], datetime] = {}
    query = select(EventRow.job_id, EventRow.attempt, EventRow.at).where(
        EventRow.to_state == "pending", EventRow.job_id.in_({job for job, _, _ in started})
    )
    for job, attempt, at in session.execute(query):
        key = (job, attempt)
        if key not in entered or at < entered[key]:
            entered[key] = at
    return [
        max(0.0, (at - entered[(job, attempt)]).total_seconds())
        for job, attempt, at in started
        if (job, attempt) in entered
    ]
