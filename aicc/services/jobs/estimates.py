"""The compute service's estimate: a scenario priced for the caller, with the expected wait.

The arithmetic is the pure estimator's (`aicc.estimate`); this module brings what it needs from
the store: the caller's organization's effective price plan, the subsidies and vouchers that
apply to the caller's project, and for each option the wait from the same what-if run that
`aicc job explain` uses (`scheduler.explain`), for a hypothetical job of that shape in the
caller's project, queued behind everything waiting now.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from aicc.core.jobspec import PRIORITIES
from aicc.core.tenancy import Principal
from aicc.estimate import Candidate, Estimate, Overrides, PricePlan, candidates, estimate
from aicc.scheduler import explain as what_if
from aicc.scheduler.framework import Profile
from aicc.scheduler.snapshot import JobView, ReplicaRequest, Snapshot
from aicc.services.billing import budgets, credits, plans
from aicc.services.common import utcnow
from aicc.services.jobs import snapshots
from aicc.services.tenancy import tenancy

PROBE = "estimate-probe"


def run(
    session: Session,
    who: Principal,
    scenario: dict[str, Any],
    *,
    profile: Profile,
    default_plan: PricePlan,
    zone: str,
    protect: snapshots.Protect,
    project: str | None = None,
    accelerators: Sequence[str] | None = None,
    count: int | None = None,
    sort: Literal["time", "cost"] = "time",
    overrides: Overrides | None = None,
    now: datetime | None = None,
) -> Estimate:
    """The priced, ranked options for `scenario`. Raises pydantic's ValidationError for a bad
    scenario, ValueError for an unknown accelerator, NotFound for a project not the caller's.
    `protect`: the replicas no preemption may take, as the live pass reads them."""
    now = now or utcnow()
    prj = tenancy.resolve_project(session, who, project)
    plan = plans.effective(session, org_id=prj.org_id, at=now, default=default_plan).plan
    found = candidates(scenario, accelerators=accelerators, count=count, overrides=overrides)
    snapshot = snapshots.build(
        session, now, protect=protect, billing=budgets.Context(zone, default_plan)
    )
    queue = tenancy.resolve_queue(session, prj, None)
    waits = {
        (c.accelerator, c.count): hours
        for c in found
        if (hours := wait_hours(snapshot, c, project_id=prj.id, queue_id=queue.id, profile=profile))
        is not None
    }
    subsidies, vouchers = credits.applicable(
        session, org_id=prj.org_id, project_id=prj.id, currency=plan.currency, zone=zone, now=now
    )
    return estimate(
        scenario,
        plan=plan,
        subsidies=subsidies,
        vouchers=vouchers,
        on=credits.today(now, zone),
        wait_hours=waits,
        accelerators=accelerators,
        count=count,
        sort=sort,
        overrides=overrides,
    )


def wait_hours(
    snapshot: Snapshot, option: Candidate, *, project_id: str, queue_id: str, profile: Profile
) -> float | None:
    """Hours until a job of this shape would start, or None when the center has too few such
    devices or the what-if cannot tell (no declared end in sight).

    The probe asks for the devices only (no CPU or memory), as many per replica as the widest
    node holds once it needs more than one node; it declares no run time (so it never
    backfills: the wait is not optimistic) and is queued at normal priority behind every job
    waiting now."""
    per_node = [
        sum(1 for d in node.devices if d.model == option.accelerator)
        for node in snapshot.nodes
        if node.schedulable
    ]
    if not per_node or sum(per_node) < option.count:
        return None
    widest = max(per_node)
    replicas = 1 if option.count <= widest else math.ceil(option.count / widest)
    each = option.count if replicas == 1 else widest
    wanted = ReplicaRequest(0, 0, accel_count=each, models=(option.accelerator,))
    return probe_wait(
        snapshot, wanted, replicas, project_id=project_id, queue_id=queue_id, profile=profile
    )


def probe_wait(
    snapshot: Snapshot,
    request: ReplicaRequest,
    replicas: int,
    *,
    project_id: str,
    queue_id: str,
    profile: Profile,
    probe_id: str = PROBE,
) -> float | None:
    """Hours until a hypothetical job of `replicas` x `request` (id `probe_id`) would start in
    the caller's project and queue at normal priority, queued behind every job waiting now, by
    the what-if run of `aicc job explain`; None when it cannot tell. The compute estimate and
    the template estimate (`services/models/template_estimate.py`) both ask it."""
    probe = JobView(
        id=probe_id,
        replicas=replicas,
        request=request,
        priority=PRIORITIES["normal"],
        submitted_at=snapshot.now,
        project_id=project_id,
        queue=queue_id,
    )
    asked = replace(snapshot, pending=[*snapshot.pending, probe])
    found = what_if.explain(asked, probe_id, profile)
    if found.estimated_start is None:
        return None
    return max(0.0, (found.estimated_start - snapshot.now).total_seconds() / 3600.0)
