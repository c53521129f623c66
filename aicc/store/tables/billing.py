"""The tables of `services/billing`: price plans, vouchers, subsidies, budgets, usage records,
invoices and meter readings. Only that context names them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import MONEY, Base


class PricePlanRow(Base):
    """One version of a price plan: the center's (`org_id` None) or one organization's, in force
    from `effective_from` until the next version of the same scope. Never changed once made."""

    __tablename__ = "price_plans"
    __table_args__ = (UniqueConstraint("scope", "effective_from"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))  # "center" or the organization id
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    prices: Mapped[dict[str, Any]] = mapped_column(default=dict)  # PricePlan fields, as strings
    discount: Mapped[str] = mapped_column(String(MONEY), default="0")
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class VoucherRow(Base):
    """Prepaid credit (算力券) of an organization, perhaps limited to a project and to models.
    What is left is `amount` minus what issued invoices took (billing/credits.py)."""

    __tablename__ = "vouchers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(100))
    amount: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    accelerators: Mapped[list[Any]] = mapped_column(default=list)  # catalog names; [] = all
    valid_from: Mapped[date]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class VoucherMoveRow(Base):
    """What moved out of a voucher other than what invoices took: a need's reward held from it
    or a challenge team's subsidy given on (`amount` above 0), or what came back to it (below
    0). `reference`: the need's id, or the team's for a subsidy. What is left of a voucher
    counts them (billing/credits.py)."""

    __tablename__ = "voucher_moves"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    voucher_id: Mapped[str] = mapped_column(ForeignKey("vouchers.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    amount: Mapped[str] = mapped_column(String(MONEY))
    reference: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class SubsidyRow(Base):
    """A subsidy program: `rate` of the discounted fee, up to `yearly_cap` per organization and
    calendar year; for one organization or (`org_id` None) for all."""

    __tablename__ = "subsidies"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("orgs.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    rate: Mapped[str] = mapped_column(String(MONEY))
    yearly_cap: Mapped[str | None] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    accelerators: Mapped[list[Any]] = mapped_column(default=list)
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class BudgetRow(Base):
    """A monthly spending limit of a project or (`project_id` None) an organization, with the
    shares of it at which an alert is written once per month (`alerted`: month -> shares)."""

    __tablename__ = "budgets"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), unique=True)  # the project or org id
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"))
    limit: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    thresholds: Mapped[list[Any]] = mapped_column(default=list)
    alerted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UsageRow(Base):
    """Append-only: what one replica used of one accelerator model within one clock hour, or
    what one organization stored for one day. `key` makes recording it twice impossible."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_org_period", "org_id", "period"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # compute | storage | requests
    org_id: Mapped[str] = mapped_column(String(40))
    project_id: Mapped[str | None] = mapped_column(String(40), index=True)
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    replica_id: Mapped[str | None] = mapped_column(String(64))  # or the archive's sha256
    node_id: Mapped[str | None] = mapped_column(String(40))
    # kind `compute`: the indexes of every device the replica was bound to (all its models'),
    # so a lease can tell whether the record ran on leased devices without reading replicas;
    # None on records without a replica of this center (a peer's, migration 0062's orphans)
    device_indexes: Mapped[list[Any] | None] = mapped_column(default=None)
    accelerator: Mapped[str] = mapped_column(String(64), default="")
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)
    devices: Mapped[int] = mapped_column(Integer, default=0)
    milli: Mapped[int] = mapped_column(Integer, default=0)  # shares of `accelerator`, summed
    cpu_milli: Mapped[int] = mapped_column(Integer, default=0)
    memory_mib: Mapped[int] = mapped_column(Integer, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    start: Mapped[datetime] = mapped_column(index=True)
    end: Mapped[datetime]
    duration_us: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM of `start` in the billing zone
    utilization: Mapped[float | None]  # measured mean busy share of its devices (NVML)
    energy_kwh: Mapped[float] = mapped_column(default=0.0)
    # kg CO₂ of `energy_kwh` at the grid intensity of the record's hour, written with it; None
    # on records written before migration 0025 (their intensity was never recorded)
    carbon_kg: Mapped[float | None] = mapped_column(default=None)
    # how `energy_kwh` was found (core/energy.py METHODS: rapl, bmc, nvml, estimated); None on
    # records without energy and on those metered before it was kept (migration 0051)
    energy_method: Mapped[str | None] = mapped_column(String(16), default=None)
    # the PUE in `energy_kwh` and how it was found: `measured` (the facility meters' hour,
    # services/billing/facility.py) or `configured` (the site's profile or constant); None on
    # records metered before it was kept (migration 0056) and on those without energy
    pue: Mapped[float | None] = mapped_column(default=None)
    pue_method: Mapped[str | None] = mapped_column(String(16), default=None)
    # kind `requests`: a deployment's answered gateway requests within one clock hour
    deployment_id: Mapped[str | None] = mapped_column(String(40), default=None)
    adapter: Mapped[str | None] = mapped_column(String(128), default=None)  # and its adapter
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    invoice_id: Mapped[str | None] = mapped_column(String(40), index=True)  # once issued
    created_at: Mapped[datetime]


class InvoiceRow(Base):
    """An issued monthly invoice of an organization: immutable. Drafts are never stored; they
    are computed from the usage records whenever asked for (billing/invoices.py)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("org_id", "period"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(16), default="issued")
    currency: Mapped[str] = mapped_column(String(3))
    totals: Mapped[dict[str, Any]] = mapped_column(default=dict)  # gross, discount, ..., net
    issued_at: Mapped[datetime]
    issued_by: Mapped[str | None] = mapped_column(String(40))


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    line: Mapped[dict[str, Any]]  # the line as the API shows it, usage record ids included


class AdjustmentRow(Base):
    """A correction (signed amount) billed on the invoice of `period`, perhaps about an issued
    invoice (`reference`); `invoice_id` is set when that invoice is issued."""

    __tablename__ = "billing_adjustments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str | None] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    reference: Mapped[str | None] = mapped_column(String(40))
    invoice_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(40))


class MeterSampleRow(Base):
    """A reading of one of the center's facility meters (Modbus TCP, executors/meters.py): kW
    of a power meter or kWh of a counter, else the error of a read that failed. Kept a week
    (the hours are in `facility_hours` by then)."""

    __tablename__ = "meter_samples"
    __table_args__ = (Index("ix_meter_samples_meter_at", "meter", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    meter: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # utility | it | cooling
    at: Mapped[datetime] = mapped_column(index=True)
    kw: Mapped[float | None] = mapped_column(default=None)
    kwh: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str] = mapped_column(String(200), default="")


class FacilityHourRow(Base):
    """One closed clock hour of the facility meters (core/meters.py `HourPue`): mean kW by role
    and by meter, and the measured PUE, or the gap (`gap` says why, `missing` which meters) with
    a NULL PUE. Written once, when the hour is over and its samples are in."""

    __tablename__ = "facility_hours"
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    pue: Mapped[float | None] = mapped_column(default=None)
    facility_kw: Mapped[float | None] = mapped_column(default=None)
    it_kw: Mapped[float | None] = mapped_column(default=None)
    cooling_kw: Mapped[float | None] = mapped_column(default=None)
    facility_from: Mapped[str] = mapped_column(String(16), default="utility")
    meters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    gap: Mapped[str] = mapped_column(String(16), default="")
    missing: Mapped[list[Any]] = mapped_column(default=list)
    written_at: Mapped[datetime]
