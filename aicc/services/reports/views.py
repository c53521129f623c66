"""The monthly report's read model (`reports.monthly` builds it): what the API answers, the
portal shows, the CSV and PDF exports print and the SDK parses, for center admins only.

Pydantic, the standard library, `aicc.core` and `services.common` (the base `View`) only, so the
SDK imports this cheaply.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from aicc.services.common import View


class DeviceHours(View):
    """Device-hours of real devices over a group (a day, an accelerator model, the month).
    Busy device-hours count only where NVML measured (`busy_rate` is over that capacity); None
    where nothing was measured, never estimated."""

    group: str
    capacity_device_hours: float
    allocated_device_hours: float
    allocation_rate: float | None
    busy_device_hours: float | None
    busy_rate: float | None


class TenantKind(View):
    kind: str
    served: int  # organizations with usage records in the month
    new: int  # organizations created in the month
    total: int  # organizations at the month's end


class JobsOfKind(View):
    kind: str  # train | infer | notebook | service
    submitted: int  # created in the month
    succeeded: int  # ended in the month, by state
    failed: int
    cancelled: int


class Money(View):
    gross: Decimal
    discount: Decimal
    subsidy: Decimal
    voucher: Decimal
    net: Decimal


class OrgBill(View):
    """One organization's invoice of the month: issued (frozen) or the draft as of now."""

    org_id: str
    name: str
    kind: str
    status: str  # issued | draft
    invoice_id: str | None
    totals: Money


class Energy(View):
    """A record keeps its facility kWh, not the PUE it was metered at: the hour's PUE is the
    site's as configured now, so a profile changed since then moves the IT share and the PUE,
    never the facility kWh or the carbon."""

    it_kwh: float  # the devices' own draw: each record's kWh / the PUE of its hour
    facility_kwh: float  # what the meter wrote (IT × PUE)
    pue: float | None  # facility / IT: the energy-weighted mean PUE of the month
    carbon_kg: float
    records: int  # usage records of this site's real devices in the month
    without_carbon: int  # of them, written before carbon was recorded (migration 0025)
    # facility kWh by how it was found (rapl, bmc, nvml, estimated; records before 0051: none)
    by_method: dict[str, float] = Field(default_factory=dict)
    # the PUE the configured profile or constant gives the same records (energy-weighted),
    # beside `pue`, which is the PUE the records were metered at (measured where the meters were)
    configured_pue: float | None = None
    # facility kWh by how its PUE was found: measured (the meters' hour), configured
    by_pue_method: dict[str, float] = Field(default_factory=dict)
    # the facility meters' own hours of the month (docs/energy.md): their PUE over the measured
    # hours, how many were measured and how many were gaps (null/0: the center has no meters)
    meters_pue: float | None = None
    meters_hours: int = 0
    meters_gap_hours: int = 0


class EnergyDay(View):
    day: str  # YYYY-MM-DD in the billing zone
    it_kwh: float
    facility_kwh: float
    carbon_kg: float


class Share(View):
    party: str  # investor | builder | operator
    fee: Decimal
    payments: Decimal
    public: Decimal
    total: Decimal


class Revenue(View):
    currency: str
    totals: Money
    payments: Decimal  # what tenants pay: the invoices' net
    public: Decimal  # subsidies and vouchers the invoices applied: paid out of public money
    shares: list[Share]
    rule: dict[str, str]  # the agreement's figures, for the sentence that states it


class MonthlyReport(View):
    month: str
    zone: str
    start: datetime
    end: datetime
    generated_at: datetime
    provisional: bool  # a bill is still a draft, or the month has not ended
    utilization: DeviceHours  # the month, real devices
    by_model: list[DeviceHours]
    by_day: list[DeviceHours]
    simulated_allocated_device_hours: float  # apart, never in the figures above
    tenants: list[TenantKind]
    tenants_served: int
    tenants_new: int
    jobs: list[JobsOfKind]
    pflops_hours: float  # sold: usage records of real devices, Σ pflops × share × hours
    pflops_hours_other_sites: float  # of pflops_hours: run at peer sites, billed here
    pflops_hours_simulated: float
    revenue: Revenue
    bills: list[OrgBill]
    energy: Energy
    energy_by_day: list[EnergyDay]
