"""Invoice lines that another context prices: a lease's charge for the month and the SLA
credit it earned; and the usage another context's charge covers already (a lessee's own jobs
on its leased capacity), rated at zero under a plan named for it. services/leases/sla.py
registers itself here when it is imported (the server does, with its settings). Billing sits
below leases in the import contracts, so an invoice asks its `SOURCES` and `COVERS` instead
of importing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from aicc.core.pricing import PricePlan, to_money
from aicc.services.billing import views
from aicc.services.billing.plans import Effective
from aicc.store.tables.billing import UsageRow


@dataclass(frozen=True)
class Line:
    """One priced line: `amount` is signed (a credit is negative), rounded to 0.01."""

    kind: str  # lease | lease_credit | need_escrow | need_escrow_returned
    item: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    currency: str
    description: str
    reference: str  # the lease's id, or the need's


# (session, org id, month YYYY-MM, billing zone, the default plan) -> lines of that month
Source = Callable[[Session, str, str, str, PricePlan], list[Line]]
SOURCES: list[Source] = []


# (session, org id, month, billing zone) -> usage record id -> what covers it (a lease id)
CoverSource = Callable[[Session, str, str, str], dict[int, str]]
COVERS: list[CoverSource] = []


@dataclass(frozen=True)
class Cover:
    """The usage records of an invoice that another charge covers, each rated at zero."""

    by: dict[int, str]

    @classmethod
    def load(cls, session: Session, org_id: str, month: str, zone: str) -> Cover:
        found: dict[int, str] = {}
        for source in COVERS:
            found.update(source(session, org_id, month, zone))
        return cls(found)

    def plan(self, record: UsageRow, eff: Effective) -> Effective:
        """`eff`, or for a covered record a plan of zero prices named for what covers it."""
        lease = self.by.get(record.id)
        if lease is None:
            return eff
        free = PricePlan(
            name=f"covered by lease {lease}",
            currency=eff.plan.currency,
            pflops_hour=Decimal(0),
            cpu_core_hour=Decimal(0),
            memory_gib_hour=Decimal(0),
        )
        return Effective(free, (f"lease:{lease}",))


def register(source: Source) -> None:
    """Add a source of lines once (importing its module twice adds nothing)."""
    if source not in SOURCES:
        SOURCES.append(source)


def lines(
    session: Session, org_id: str, month: str, *, zone: str, default: PricePlan, start: int
) -> list[dict[str, Any]]:
    """Every source's lines of the organization's month, as the invoice's JSON keeps them."""
    found = [line for source in SOURCES for line in source(session, org_id, month, zone, default)]
    return [_as_dict(start + n, month, line) for n, line in enumerate(found)]


def _as_dict(position: int, month: str, line: Line) -> dict[str, Any]:
    amount = str(to_money(line.amount))
    return views.invoice_line(
        position=position,
        kind=line.kind,
        lease_id=line.reference if line.kind.startswith("lease") else None,
        reference=line.reference,
        project_id=None,
        job_id=None,
        item=line.item,
        unit=line.unit,
        day=None,
        period=month,
        quantity=str(line.quantity),
        unit_price=str(line.unit_price),
        price_plan=None,
        price_plan_name=None,
        gross=amount,
        discount="0.00",
        subsidy="0.00",
        voucher="0.00",
        net=amount,
        currency=line.currency,
        credits=[],
        usage_ids=[],
        description=line.description,
    )
