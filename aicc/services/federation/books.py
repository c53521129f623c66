"""Billing a job that ran at a peer: the tenant is billed at home, the sites settle between them.

When an attempt ends at the peer, home writes its usage records (one per clock hour, keyed by job,
attempt and hour, so writing twice is impossible) with the resources the job held and the time it
ran there; the home invoice prices them with the home price plan like any job's, so a job has one
invoice line per item whichever sites ran it. A settlement row (unique per job attempt) records
what home owes the peer: the same usage at the peer's advertised prices, which is what the peer's
own meter bills its `site-<home>` organization under its default plan. An operator settles it
once. An attempt lost with its site is neither billed at home nor settled (the tenant does not pay
for a site's failure; see docs/federation.md).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import periods
from aicc.core.catalog import mig_milli
from aicc.core.jobspec import AcceleratorRequest, JobSpec
from aicc.core.pricing import PricePlan
from aicc.core.tenancy import Principal
from aicc.services.billing import usage
from aicc.services.billing.rating import ELSEWHERE
from aicc.services.common import Conflict, Forbidden, NotFound, utcnow
from aicc.services.federation.views import Settlement
from aicc.services.jobs.federated import FederatedJob
from aicc.services.tenancy import audit
from aicc.store.tables.federation import FederationAdvertRow, FederationJobRow, SettlementRow

US = 1_000_000
CENT = Decimal("0.01")


def peer_plan(advert: dict[str, Any] | None) -> PricePlan:
    """The peer's prices as its advert states them."""
    prices = (advert or {}).get("prices") or {}

    return PricePlan.model_validate(
        {
            "name": "peer",
            "currency": prices.get("currency") or "CNY",
            "accelerator_hour": dict(prices.get("accelerator_hour") or {}),
            **{
                key: prices[key]
                for key in ("pflops_hour", "cpu_core_hour", "memory_gib_hour")
                if prices.get(key) not in (None, "")
            },
        }
    )


def _milli(acc: AcceleratorRequest) -> int:
    """A replica's accelerator share as the meter writes it here: a MIG slice its profile's
    compute share, a `milli` share itself (its `count` reads 1), whole devices 1000 each."""
    if acc.mig:
        return mig_milli(acc.mig)
    if acc.milli:
        return acc.milli
    return acc.count * 1000


def record(session: Session, job: FederatedJob, run: FederationJobRow, *, zone: str) -> None:
    """Usage at home and the settlement row of one attempt that ended at a peer."""
    if run.started_at is None or run.ended_at is None or run.ended_at <= run.started_at:
        return
    spec = JobSpec.model_validate(job.spec)
    acc = spec.resources.accelerator
    per_replica = (acc.count or (1 if acc.milli or acc.mig else 0)) if acc else 0
    milli = _milli(acc) if acc else 0
    ranked = (run.routing.get("ranked") or [{}])[0]
    model = str(ranked.get("model") or "") if per_replica else ""
    advert_row = session.get(FederationAdvertRow, run.site)
    advert = advert_row.advert if advert_row else None
    simulated = bool(((advert or {}).get("models") or {}).get(model, {}).get("simulated"))
    written: list[str] = []
    for start, end in periods.hour_segments(run.started_at, run.ended_at):
        key = f"f:{job.id}:{run.attempt}:{periods.hour_floor(start).strftime('%Y%m%dT%H')}"
        hour = usage.Compute(
            key=key,
            org_id=job.org_id,
            project_id=job.project_id,
            job_id=job.id,
            replica_id=f"{ELSEWHERE}{run.site}",  # where it ran: a peer, not a replica here
            accelerator=model,
            simulated=simulated,
            devices=per_replica * spec.replicas,
            milli=milli * spec.replicas if model else 0,
            cpu_milli=spec.resources.cpu_milli * spec.replicas,
            memory_mib=spec.resources.memory_mib * spec.replicas,
            start=start,
            end=end,
            duration_us=int((end - start).total_seconds() * US),
            period=periods.month_of(start, zone),
            created_at=end,
        )
        if usage.add_compute(session, hour):
            written.append(key)
    if run.remote_job_id is None or _settled_row(session, job.id, run.attempt) is not None:
        return
    plan = peer_plan(advert)
    amount = usage.cost_of(session, plan, keys=written, key_prefix=f"f:{job.id}:{run.attempt}:")
    session.add(
        SettlementRow(
            job_id=job.id,
            attempt=run.attempt,
            site=run.site,
            remote_job_id=run.remote_job_id,
            amount=str(amount.quantize(CENT, ROUND_HALF_UP)),
            currency=plan.currency,
            state="open",
            created_at=utcnow(),
            settled_at=None,
        )
    )


def _settled_row(session: Session, job_id: str, attempt: int) -> SettlementRow | None:
    return session.scalar(
        select(SettlementRow).where(
            SettlementRow.job_id == job_id, SettlementRow.attempt == attempt
        )
    )


def _read(row: SettlementRow) -> Settlement:
    return Settlement.model_validate(row, from_attributes=True)


def list_settlements(
    session: Session, who: Principal, *, site: str | None = None, state: str | None = None
) -> list[Settlement]:
    """What this site owes its peers, per remote job attempt (center admins)."""
    if not who.is_admin:
        raise Forbidden("only center admins see settlements between sites")
    query = select(SettlementRow).order_by(SettlementRow.id)
    if site is not None:
        query = query.where(SettlementRow.site == site)
    if state is not None:
        query = query.where(SettlementRow.state == state)
    return [_read(r) for r in session.scalars(query)]


def settle(session: Session, who: Principal, settlement_id: int) -> Settlement:
    """Mark one settlement paid; a second time is a 409 (settled once)."""
    if not who.is_admin:
        raise Forbidden("only center admins settle between sites")
    row = session.get(SettlementRow, settlement_id)
    if row is None:
        raise NotFound("settlement {id} not found", id=settlement_id)
    if row.state == "settled":
        raise Conflict("settlement {id} was settled already", id=settlement_id)
    row.state, row.settled_at = "settled", utcnow()
    detail = {"site": row.site, "job_id": row.job_id, "amount": row.amount}
    audit.record(session, who, "settlement.settle", "settlement", str(row.id), detail=detail)
    return _read(row)
