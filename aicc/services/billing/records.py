"""Usage records as tenants read them: who may see which, and the quantities in people's units."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import rating, views
from aicc.services.common import Forbidden, Invalid, from_row
from aicc.services.tenancy import tenancy
from aicc.store.tables.billing import UsageRow


def visible(
    session: Session,
    who: Principal,
    *,
    org_id: str | None = None,
    project: str | None = None,
    job_id: str | None = None,
    month: str | None = None,
    limit: int = 1000,
) -> list[views.UsageRecord]:
    """Records the caller may read: a member those of its projects, an org admin its
    organization's (storage included), a center admin any; another tenant's org or project is
    a 404. `job_id` is one the caller has looked up (`jobs.get`: another tenant's job is a 404
    there; billing, below jobs, reads no job), and only the caller's records of it come back."""
    query = select(UsageRow).order_by(UsageRow.start, UsageRow.id).limit(limit)
    if job_id is not None:
        query = query.where(UsageRow.job_id == job_id)
    if project is not None:
        query = query.where(
            UsageRow.project_id == tenancy.resolve_project(session, who, project).id
        )
    if org_id is not None:
        query = query.where(UsageRow.org_id == tenancy.get_org(session, who, org_id).id)
    elif not who.is_admin:
        query = query.where(UsageRow.org_id == who.org_id)
    if month is not None:
        try:
            query = query.where(UsageRow.period == periods.parse_month(month))
        except ValueError as err:
            raise Invalid(f"month: {err}") from None
    rows = list(session.scalars(query))
    if not (who.is_admin or who.role is Role.ORG_ADMIN):
        rows = [r for r in rows if r.project_id in who.project_ids]
    return [_record(r) for r in rows]


def footprint_by_org(
    session: Session, who: Principal, *, since: datetime, until: datetime
) -> dict[str, views.Footprint]:
    """Operators only (Forbidden otherwise): kWh and kg CO₂ of real devices per organization
    from the compute records that overlap [since, until]; a record that straddles an edge
    counts for the share of its interval inside (the meter spreads a record's energy evenly
    over it). An organization with no such record is absent, so an empty answer means nothing
    was metered, never zero energy."""
    if not who.is_admin:
        raise Forbidden("only center admins read the center's energy")
    query = select(
        UsageRow.org_id,
        UsageRow.start,
        UsageRow.end,
        UsageRow.energy_kwh,
        UsageRow.carbon_kg,
        UsageRow.energy_method,
    ).where(
        UsageRow.kind == "compute",
        UsageRow.simulated.is_(False),
        or_(UsageRow.accelerator != "", UsageRow.energy_method.in_(MEASURED_NODES)),
        UsageRow.start < until,
        UsageRow.end > since,
    )
    out: dict[str, views.Footprint] = {}
    for org_id, start, end, kwh, kg, method in session.execute(query):
        length = (end - start).total_seconds()
        inside = (min(end, until) - max(start, since)).total_seconds()
        share = min(1.0, max(0.0, inside / length)) if length > 0 else 1.0
        part = views.Footprint(
            energy_kwh=kwh * share,
            carbon_kg=(kg or 0.0) * share,
            by_method={method: kwh * share} if method else {},
        )
        out[org_id] = out[org_id] + part if org_id in out else part
    return out


def footprint(rows: list[views.UsageRecord]) -> views.Footprint | None:
    """The sums of the records of real devices, or None when there is none (simulated devices
    draw nothing: no figure, rather than a zero). A record metered before carbon was recorded
    adds its kWh and no carbon."""
    real = [r for r in rows if measured(r.kind, r.accelerator, r.simulated, r.energy_method)]
    if not real:
        return None
    methods: dict[str, float] = {}
    for r in real:
        if r.energy_method:
            methods[r.energy_method] = methods.get(r.energy_method, 0.0) + r.energy_kwh
    return views.Footprint(
        energy_kwh=sum(r.energy_kwh for r in real),
        carbon_kg=sum(r.carbon_kg or 0.0 for r in real),
        by_method=methods,
    )


MEASURED_NODES = ("rapl", "bmc")  # a CPU job's energy: its node's measured power, shared


def measured(kind: str, accelerator: str | None, simulated: bool, method: str | None) -> bool:
    """A record with an energy figure: compute on real accelerators, or on a node whose power
    was measured (RAPL, BMC); simulated devices draw nothing."""
    if kind != "compute" or simulated:
        return False
    return bool(accelerator) or method in MEASURED_NODES


def _record(row: UsageRow) -> views.UsageRecord:
    hours = row.duration_us / 3.6e9
    device_hours = float(rating.device_hours(row))
    return from_row(
        views.UsageRecord,
        row,
        replica_id=row.replica_id if row.kind == "compute" else None,
        accelerator=row.accelerator or None,
        seconds=row.duration_us / 1e6,
        accelerator_seconds=device_hours * 3600,
        accelerator_hours=device_hours,
        pflops_hours=float(rating.pflops(row.accelerator) * rating.device_hours(row)),
        cpu_core_hours=row.cpu_milli / 1000 * hours,
        memory_gib_hours=row.memory_mib / 1024 * hours,
        storage_gib_days=row.storage_bytes / 1024**3 * row.duration_us / 8.64e10,
    )


def job_compute(session: Session, job_id: str) -> dict[str, object]:
    """What a job used, summed over its usage records: CPU core-hours, accelerator
    device-hours (shares counted as parts) and the accelerator models, for a lineage."""
    query = select(UsageRow).where(UsageRow.job_id == job_id, UsageRow.kind == "compute")
    cpu = devices = 0.0
    models: set[str] = set()
    for row in session.scalars(query):
        hours = row.duration_us / 3.6e9
        cpu += hours * row.cpu_milli / 1000
        devices += hours * (row.milli / 1000 if row.milli else row.devices)
        if row.accelerator:
            models.add(row.accelerator)
    return {
        "cpu_core_hours": round(cpu, 6),
        "device_hours": round(devices, 6),
        "accelerators": sorted(models),
    }
