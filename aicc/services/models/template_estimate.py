"""What a template run would take before it is submitted (训练前预估): its time and price on
CPU only and on each accelerator model the center has, with the expected wait for each.

The arithmetic is `aicc/estimate/templates.py`'s; this module brings the run's size (the rows
of the data set's table the template would learn from, or its images), the accelerator models
of the center's schedulable nodes, the caller's price plan and credits, and the wait from the
scheduler's what-if run for a job of the run's shape (`services/jobs/estimates.py`'s probe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from aicc.core import catalog
from aicc.core import templates as core
from aicc.core.pricing import PricePlan
from aicc.core.tenancy import Principal
from aicc.core.units import parse_memory_mib
from aicc.estimate import templates as model
from aicc.scheduler.framework import Profile
from aicc.scheduler.snapshot import ReplicaRequest
from aicc.services.billing import budgets, credits, plans
from aicc.services.common import Invalid, utcnow
from aicc.services.data import datasets
from aicc.services.jobs import estimates, snapshots
from aicc.services.models import template_runs, templates
from aicc.services.tenancy import tenancy

PROBE = "template-estimate-probe"


def estimate(
    session: Session,
    who: Principal,
    name: str,
    *,
    profile: Profile,
    default_plan: PricePlan,
    zone: str,
    protect: snapshots.Protect,
    data: str | None = None,
    params: Mapping[str, object] | None = None,
    columns: dict[str, str] | None = None,
    project: str | None = None,
    gpus: int | None = None,
    cpu: float | None = None,
    search: Mapping[str, Sequence[object]] | None = None,
    trials: int | None = None,
    now: datetime | None = None,
) -> model.TemplateEstimate:
    """The options for the run `template_runs.run` would submit with the same arguments; the same
    4xx for bad hyperparameters, a search too large, or a data set that does not fit.
    `protect`: the replicas no preemption may take, as the live pass reads them."""
    now = now or utcnow()
    manifest = templates.get(name, session, who, project=project).manifest
    checked, searched = template_runs.hyperparameters(manifest, params, search, trials)
    points = [checked] if searched is None else searched
    rows = _rows(session, who, manifest, data, columns, project, checked)
    # The trials run side by side: the job lasts as long as its longest trial.
    hp = max(points, key=lambda p: model.work_ratio(manifest, rows, p))
    prj = tenancy.resolve_project(session, who, project)
    plan = plans.effective(session, org_id=prj.org_id, at=now, default=default_plan).plan
    snapshot = snapshots.build(
        session, now, protect=protect, billing=budgets.Context(zone, default_plan)
    )
    queue = tenancy.resolve_queue(session, prj, None)
    names = sorted({d.model for n in snapshot.nodes if n.schedulable for d in n.devices})
    known = [catalog.CATALOG[m] for m in names if m in catalog.CATALOG]
    waits = {}
    # The hours until a job of each shape would start, queued behind everything waiting now;
    # None when the center cannot tell (too few such devices, no declared end in sight).
    for shape, wanted in _replicas(manifest, known, gpus, cpu).items():
        hours = estimates.probe_wait(
            snapshot,
            wanted,
            len(points),
            project_id=prj.id,
            queue_id=queue.id,
            profile=profile,
            probe_id=PROBE,
        )
        if hours is not None:
            waits[shape] = hours
    subsidies, vouchers = credits.applicable(
        session, org_id=prj.org_id, project_id=prj.id, currency=plan.currency, zone=zone, now=now
    )
    try:
        return model.estimate_run(
            manifest,
            rows=rows,
            hp=hp,
            plan=plan,
            models=known,
            gpus=gpus,
            cpu=cpu,
            trials=len(points),
            subsidies=subsidies,
            vouchers=vouchers,
            on=credits.today(now, zone),
            wait_hours=waits,
        )
    except core.TemplateError as e:
        raise Invalid("{problem}", problem=str(e)) from None


def _replicas(
    manifest: core.Manifest,
    known: list[catalog.AcceleratorModel],
    gpus: int | None,
    cpu: float | None,
) -> dict[tuple[str, int], ReplicaRequest]:
    """The run's replica on CPU only and on each accelerator model of `known` (those the
    center's schedulable nodes have), by (model, devices)."""
    res = manifest.resources
    count = max(1, gpus if gpus is not None else res.gpus)
    shapes = [(model.CPU, 0)] + [(m.name, count) for m in known]
    cores = res.cpu if cpu is None else cpu
    cpu_milli, memory_mib = int(cores * 1000), parse_memory_mib(res.memory.replace(" ", ""))
    return {
        (accelerator, n): ReplicaRequest(
            cpu_milli, memory_mib, accel_count=n, models=(accelerator,) if n else None
        )
        for accelerator, n in shapes
    }


def _rows(
    session: Session,
    who: Principal,
    manifest: core.Manifest,
    data: str | None,
    columns: dict[str, str] | None,
    project: str | None,
    params: Mapping[str, object],
) -> int:
    """The rows (or images) the run would learn from: the example's without a data set."""
    if data is None:
        return manifest.resources.example_rows or 1
    version, stored = datasets.open_version(session, who, data, project=project)
    paths = [f.path for f in stored.files]
    found = template_runs.check_fit(manifest, manifest.name, version, paths, columns, params=params)
    if found.table is None:  # image folders
        return sum(1 for p in paths if p.lower().endswith(core.IMAGE_SUFFIXES)) or 1
    table: Mapping[str, Any] = version.tables[found.table]
    return max(1, int(table.get("rows") or 0))
