"""The books' answers (docs/billing.md, docs/api.md): price plans, vouchers, subsidy programs,
budgets, usage records, bills and invoices.

The billing services' read models (aicc/services/billing/models.py) are already the wire shape,
so they are the schemas here; this module adds what only the API shows: pages, the plan in
force at an instant, and a bill with its lines.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from aicc.services.billing.models import (
    Adjustment,
    Budget,
    IssuedInvoice,
    PricePlanVersion,
    Subsidy,
    UsageRecord,
    Voucher,
)

__all__ = [
    "Adjustment",
    "Bill",
    "Budget",
    "Budgets",
    "EffectivePricePlan",
    "IssuedInvoice",
    "IssuedInvoices",
    "PricePlanVersion",
    "PricePlanVersions",
    "Subsidies",
    "Subsidy",
    "UsageRecord",
    "UsageRecords",
    "Voucher",
    "Vouchers",
]


class PricePlanVersions(BaseModel):
    items: list[PricePlanVersion]
    next_cursor: str | None = None


class EffectivePricePlan(BaseModel):
    """The plan in force for an organization at an instant: its versions merged over the
    center's (`versions` names them, oldest first) or the configured default."""

    org_id: str
    at: datetime
    versions: list[str]
    name: str
    currency: str
    accelerator_hour: dict[str, Decimal]
    pflops_hour: Decimal | None
    cpu_core_hour: Decimal | None
    memory_gib_hour: Decimal | None
    storage_gib_day: Decimal | None
    input_mtok: Decimal | None = None
    output_mtok: Decimal | None = None
    request: Decimal | None = None
    discount: Decimal


class Vouchers(BaseModel):
    items: list[Voucher]
    next_cursor: str | None = None


class Subsidies(BaseModel):
    items: list[Subsidy]
    next_cursor: str | None = None


class Budgets(BaseModel):
    items: list[Budget]
    next_cursor: str | None = None


class UsageRecords(BaseModel):
    items: list[UsageRecord]
    next_cursor: str | None = Field(default=None, description="always null: `limit` bounds it")


class Bill(BaseModel):
    """An organization's invoice of a month: the issued one (`id`), or the draft as of now."""

    id: str | None
    org_id: str
    period: str
    status: str = Field(description="draft | issued")
    currency: str
    issued_at: datetime | None
    totals: dict[str, str] = Field(description="gross, discount, subsidy, voucher, net")
    footprint: dict[str, Any] | None = Field(
        default=None,
        description="energy_kwh and carbon_kg (CO₂e) of real accelerators, and per project "
        "(`projects`); null on invoices issued before footprints were kept",
    )
    lines: list[dict[str, Any]] = Field(
        description="one job's (or deployment's) use of one item in the month under one price, "
        "from `day` to `last_day`, or an adjustment (docs/billing.md: invoices)"
    )
    unpriced: list[dict[str, Any]] = Field(description="usage no price plan prices")


class IssuedInvoices(BaseModel):
    items: list[IssuedInvoice]
    next_cursor: str | None = None
