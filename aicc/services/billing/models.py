"""The books' read models: what the billing services hand to the API, the portal and the CLI.

Frozen and free of the store: a caller never holds a row, so it cannot change one by accident
or trigger a query by reading an attribute. Amounts are the exact strings the books store
(`"12.00"`), never floats; the API's schemas (aicc/api/schemas/billing.py) are these models.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True)


class PricePlanVersion(_Read):
    """One stored version of the center's plan (`org_id` null) or of an organization's."""

    id: str
    org_id: str | None
    effective_from: datetime
    created_at: datetime
    name: str
    currency: str
    accelerator_hour: dict[str, Decimal]
    pflops_hour: Decimal | None
    cpu_core_hour: Decimal | None
    memory_gib_hour: Decimal | None
    storage_gib_day: Decimal | None
    input_mtok: Decimal | None
    output_mtok: Decimal | None
    request: Decimal | None
    discount: Decimal
    given: list[str]  # the prices this version sets itself; the others come from the center's


class Voucher(_Read):
    id: str
    org_id: str
    project_id: str | None
    name: str
    amount: str
    remaining: str  # what issued invoices left
    currency: str
    accelerators: list[str]
    valid_from: date
    valid_until: date | None
    created_at: datetime


class Subsidy(_Read):
    id: str
    name: str
    org_id: str | None  # None: every organization
    rate: str
    yearly_cap: str | None
    remaining_this_year: str | None  # of the caller's organization
    year: int
    currency: str
    accelerators: list[str]
    valid_from: date | None
    valid_until: date | None
    created_at: datetime


class Budget(_Read):
    id: str
    org_id: str
    project_id: str | None  # None: the organization's
    limit: str
    currency: str
    thresholds: list[float]
    month: str
    spent: str
    committed: str  # running jobs until their declared end
    left: str
    alerted: list[float]  # thresholds already crossed this month
    updated_at: datetime


class UsageRecord(_Read):
    """A usage record with its quantities in people's units (hours, GiB-hours, kWh, kg CO₂)."""

    id: int
    kind: str  # compute | storage
    org_id: str
    project_id: str | None
    job_id: str | None
    replica_id: str | None
    accelerator: str | None
    simulated: bool
    devices: int
    milli: int
    cpu_milli: int
    memory_mib: int
    storage_bytes: int
    duration_us: int
    start: datetime
    end: datetime
    period: str
    seconds: float
    accelerator_seconds: float
    accelerator_hours: float
    pflops_hours: float
    cpu_core_hours: float
    memory_gib_hours: float
    storage_gib_days: float
    utilization: float | None
    energy_kwh: float
    invoice_id: str | None
    carbon_kg: float | None = None  # None: metered before carbon was recorded (migration 0025)


class Footprint(_Read):
    """Energy of real accelerators (PUE included) and its carbon at the grid's hourly
    intensity, summed over usage records (docs/billing.md: energy and carbon)."""

    energy_kwh: float
    carbon_kg: float

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(
            energy_kwh=self.energy_kwh + other.energy_kwh,
            carbon_kg=self.carbon_kg + other.carbon_kg,
        )


class Adjustment(_Read):
    id: str
    org_id: str
    project_id: str | None
    period: str
    amount: str  # signed: negative is a credit
    currency: str
    description: str
    reference: str | None
    created_at: datetime


class IssuedInvoice(_Read):
    """An issued invoice without its lines (GET /bills has them)."""

    id: str
    org_id: str
    period: str
    status: str
    currency: str
    issued_at: datetime | None
    totals: dict[str, str | None]
