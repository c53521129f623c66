"""Usage records as the contexts above billing use them: federation writes the hours a job ran
at a peer and prices them at the peer's plan, leases find the records their charge covers, the
center's report and the metrics add the records up. Billing owns `UsageRow`; these functions
are the only way the others read or write it (docs/ARCHITECTURE.md, "every table has one owner").
Each answers in one query, as the callers did when they named the table."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, not_, or_, select
from sqlalchemy.orm import Session

from aicc.core.pricing import PricePlan
from aicc.services.billing import rating
from aicc.services.billing.records import MEASURED_NODES
from aicc.store.tables.billing import UsageRow


@dataclass(frozen=True)
class Compute:
    """A compute record written by a context other than the meter (federation: an hour a job
    of this site's tenant ran at a peer, `replica_id` naming the peer after `rating.ELSEWHERE`).
    `key` makes it once: a second write of the same key is skipped."""

    key: str
    org_id: str
    project_id: str | None
    job_id: str
    replica_id: str
    accelerator: str
    simulated: bool
    devices: int
    milli: int
    cpu_milli: int
    memory_mib: int
    start: datetime
    end: datetime
    duration_us: int
    period: str
    created_at: datetime


def add_compute(session: Session, record: Compute) -> bool:
    """Write `record` unless one with its key is there; whether it was written. No energy: the
    job drew a peer's power (`energy_kwh` 0, no carbon, no utilization)."""
    if session.scalar(select(UsageRow.id).where(UsageRow.key == record.key)) is not None:
        return False
    # the record as given; at a peer, no node of ours and no energy measured here
    elsewhere = {"node_id": None, "utilization": None, "energy_kwh": 0.0, "carbon_kg": None}
    session.add(UsageRow(**asdict(record), kind="compute", **elsewhere))
    return True


def cost_of(
    session: Session, plan: PricePlan, *, keys: Sequence[str] = (), key_prefix: str = ""
) -> Decimal:
    """What the records of `keys` (or, with no keys, those whose key starts with `key_prefix`)
    cost under `plan`, unrounded; records written in this session count (autoflush)."""
    if keys:
        query = select(UsageRow).where(UsageRow.key.in_(list(keys)))
    else:
        query = select(UsageRow).where(UsageRow.key.like(f"{key_prefix}%"))
    rows = sorted(session.scalars(query), key=lambda r: r.key)
    return sum((rating.cost(r, plan) for r in rows), Decimal(0))


@dataclass(frozen=True, slots=True)
class Uninvoiced:
    """A compute record not yet invoiced: where it ran (node id, the replica's device indexes)."""

    id: int
    node_id: str | None
    device_indexes: tuple[int, ...]


def uninvoiced_compute(
    session: Session,
    *,
    org_id: str,
    month: str,
    node_ids: Collection[str],
    since: datetime,
    until: datetime,
) -> list[Uninvoiced]:
    """`org_id`'s compute records not yet invoiced, of `month` or before, on `node_ids`,
    started in [since, until) (a lease's: which of them it covers), in one query."""
    query = select(UsageRow.id, UsageRow.node_id, UsageRow.device_indexes).where(
        UsageRow.org_id == org_id,
        UsageRow.kind == "compute",
        UsageRow.invoice_id.is_(None),
        UsageRow.period <= month,
        UsageRow.node_id.in_(list(node_ids)),
        UsageRow.start >= since,
        UsageRow.start < until,
    )
    return [
        Uninvoiced(record_id, node_id, tuple(int(i) for i in indexes or ()))
        for record_id, node_id, indexes in session.execute(query)
    ]


def orgs_with_usage(session: Session, month: str) -> set[str]:
    """The organizations with any usage record in `month`."""
    return set(session.scalars(select(UsageRow.org_id).where(UsageRow.period == month)))


@dataclass(frozen=True, slots=True)
class ComputeUse:
    """What the center's report adds up of one compute record."""

    replica_id: str | None
    accelerator: str
    simulated: bool
    milli: int
    duration_us: int
    start: datetime
    energy_kwh: float
    energy_method: str | None
    pue: float | None
    pue_method: str | None
    carbon_kg: float | None


_USE = (
    UsageRow.replica_id,
    UsageRow.accelerator,
    UsageRow.simulated,
    UsageRow.milli,
    UsageRow.duration_us,
    UsageRow.start,
    UsageRow.energy_kwh,
    UsageRow.energy_method,
    UsageRow.pue,
    UsageRow.pue_method,
    UsageRow.carbon_kg,
)


def accelerated(session: Session, month: str) -> Iterator[ComputeUse]:
    """The compute records of `month` on accelerators (real or simulated, here or at a peer)."""
    query = select(*_USE).where(
        UsageRow.period == month, UsageRow.kind == "compute", UsageRow.accelerator != ""
    )
    for found in session.execute(query):
        yield ComputeUse(*found)


def measured_here(session: Session, month: str) -> Iterator[ComputeUse]:
    """The compute records of `month` with a measured energy figure (real accelerators, or a
    node's measured power) that ran at this site: a job run at a peer drew that site's power."""
    here = or_(
        UsageRow.replica_id.is_(None), not_(UsageRow.replica_id.startswith(rating.ELSEWHERE))
    )
    measured = or_(UsageRow.accelerator != "", UsageRow.energy_method.in_(MEASURED_NODES))
    query = select(*_USE).where(
        UsageRow.period == month,
        UsageRow.kind == "compute",
        UsageRow.simulated.is_(False),
        measured,
        here,
    )
    for found in session.execute(query):
        yield ComputeUse(*found)


@dataclass(frozen=True, slots=True)
class ComputeTotal:
    """The sums of the compute records of one organization, project, model and kind of device
    (the metrics' counters): milli-device and milli-CPU microseconds, kWh, kg CO₂."""

    org_id: str
    project_id: str | None
    accelerator: str
    simulated: bool
    milli_us: int
    cpu_milli_us: int
    energy_kwh: float
    carbon_kg: float


def compute_totals(session: Session) -> list[ComputeTotal]:
    """Every compute record summed by organization, project, model and simulated, in one query
    (a sum of nothing reads 0)."""
    query = (
        select(
            UsageRow.org_id,
            UsageRow.project_id,
            UsageRow.accelerator,
            UsageRow.simulated,
            func.sum(UsageRow.milli * UsageRow.duration_us),
            func.sum(UsageRow.cpu_milli * UsageRow.duration_us),
            func.sum(UsageRow.energy_kwh),
            func.sum(UsageRow.carbon_kg),
        )
        .where(UsageRow.kind == "compute")
        .group_by(UsageRow.org_id, UsageRow.project_id, UsageRow.accelerator, UsageRow.simulated)
    )
    return [
        ComputeTotal(
            org_id=org,
            project_id=project,
            accelerator=model or "",
            simulated=bool(simulated),
            milli_us=int(milli_us or 0),
            cpu_milli_us=int(cpu_us or 0),
            energy_kwh=float(kwh or 0),
            carbon_kg=float(kg or 0),
        )
        for org, project, model, simulated, milli_us, cpu_us, kwh, kg in session.execute(query)
    ]
