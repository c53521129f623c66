"""Recent usage per project for fair share, computed from the replicas' own history.

Each replica held its resources at a constant rate from its start to its end (or now). With usage
that halves every `half_life_s`, what an interval [s, e] leaves at `now` is exact in closed form:
`rate * tau * (2^-(now-e)/h - 2^-(now-s)/h)`, `tau = h / ln 2`. Being derived from the store, it
needs no state between cycles and survives a restart unchanged.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.scheduler.quota import placed_demand
from aicc.scheduler.snapshot import DevicePick, Placement, ReplicaRequest, Usage
from aicc.store.tables import DeviceRow, JobRow, NodeRow, ReplicaRow

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
    models = {
        (name, index): model
        for name, index, model in session.execute(
            select(NodeRow.name, DeviceRow.index, DeviceRow.model).join(
                NodeRow, NodeRow.id == DeviceRow.node_id
            )
        )
    }
    names = {id_: name for id_, name in session.execute(select(NodeRow.id, NodeRow.name))}
    tau = half_life_s / math.log(2)
    totals: dict[str, dict[str, float]] = {}
    for rep, project in rows:
        start, end = rep.started_at or now, rep.ended_at or now
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
