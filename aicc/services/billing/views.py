"""The books' read models: what the billing services hand to the API, the portal, the CLI
and the SDK (docs/billing.md, docs/api.md): price plans, vouchers, subsidy programs, budgets,
usage records, bills and invoices, and their pages.

Frozen and free of the store: a caller never holds a row, so it cannot change one by accident
or trigger a query by reading an attribute. Amounts are the exact strings the books store
(`"12.00"`), never floats. Pydantic, the standard library, `aicc.core` and `services.common`
(the base `View`) only, so the SDK imports this cheaply; the routes answer these models as they
are.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from aicc.services.common import View


class PricePlanVersion(View):
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
    batch_discount: Decimal = Decimal(0)  # off a batch's request and token prices
    api_tier: int | None = None  # the service tier of the organization's new API keys
    given: list[str]  # the prices this version sets itself; the others come from the center's


class Voucher(View):
    id: str
    org_id: str
    project_id: str | None
    name: str
    amount: str
    remaining: str  # what issued invoices and moves (a need's reward, a team's subsidy) left
    currency: str
    accelerators: list[str]
    valid_from: date
    valid_until: date | None
    created_at: datetime


class Subsidy(View):
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


class Budget(View):
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


class UsageRecord(View):
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
    # how energy_kwh was found: rapl | bmc (the node's measured power, shared by the job's CPU
    # and memory) | nvml (accelerators at their measured busy rate) | estimated (at the site's
    # assumed rate); None: no energy figure (storage, requests, simulated devices, older records)
    energy_method: str | None = None


class ReplicaUse(View):
    """What the meter and budgets need of one replica, handed over by jobs (which owns
    replicas): billing prices and records it, and returns how far it recorded for jobs to
    write back (services/jobs/metering.py)."""

    id: str  # the replica's
    job_id: str
    org_id: str
    project_id: str
    node_id: str
    devices: tuple[tuple[int, int], ...]  # (device index, milli) as bound
    cpu_milli: int
    memory_mib: int
    started_at: datetime | None
    ended_at: datetime | None
    metered_to: datetime | None  # usage is recorded up to here
    max_runtime_s: int | None  # the job's declared runtime, as stored


class Archive(View):
    """An uploaded workdir archive the meter bills storage of, handed over by jobs (which owns
    workdirs: services/jobs/workdirs.py `archives_held`)."""

    org_id: str
    sha256: str
    size: int
    created_at: datetime


class RequestUse(View):
    """An answered request through the gateway not yet on a usage record, handed over by
    serving (which owns the request log, services/serving/metering.py): the meter rolls it into
    a record and returns which, for serving to write back."""

    id: str  # the request's
    org_id: str
    project_id: str
    deployment_id: str
    adapter: str | None
    at: datetime
    prompt_tokens: int
    completion_tokens: int
    route: str


class Footprint(View):
    """Energy of real accelerators and of CPU jobs on measured nodes (PUE included) and its
    carbon at the grid's hourly intensity, summed over usage records, with the kWh of each
    method (docs/billing.md: energy and carbon)."""

    energy_kwh: float
    carbon_kg: float
    by_method: dict[str, float] = Field(default_factory=dict)  # kWh by `energy_method`

    def __add__(self, other: Footprint) -> Footprint:
        methods = dict(self.by_method)
        for method, kwh in other.by_method.items():
            methods[method] = methods.get(method, 0.0) + kwh
        return Footprint(
            energy_kwh=self.energy_kwh + other.energy_kwh,
            carbon_kg=self.carbon_kg + other.carbon_kg,
            by_method=methods,
        )


class Adjustment(View):
    id: str
    org_id: str
    project_id: str | None
    period: str
    amount: str  # signed: negative is a credit
    currency: str
    description: str
    reference: str | None
    created_at: datetime


class IssuedInvoice(View):
    """An issued invoice without its lines (GET /bills has them)."""

    id: str
    org_id: str
    period: str
    status: str
    currency: str
    issued_at: datetime | None
    totals: dict[str, str | None]


class EffectivePricePlan(View):
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
    batch_discount: Decimal = Decimal(0)
    api_tier: int | None = None  # the service tier of the organization's new API keys


# Every key an invoice line of any kind has (usage, adjustment, lease, lease_credit,
# need_escrow...), with what it is on a line of a kind it does not apply to: a reader (the
# portal's template, the CLI, the CSV) can read any key of any line, and a new kind of line
# cannot leave one out. Order: the order of the JSON.
INVOICE_LINE: dict[str, Any] = {
    "position": 0,
    "kind": "usage",
    "project_id": None,
    "job_id": None,
    "deployment_id": None,
    "lease_id": None,
    "adjustment_id": None,
    "reference": None,  # what another context's line is for: a lease's id, a need's
    "item": "",
    "unit": "",
    "day": None,  # a usage line's first day; None on a line of the whole month
    "last_day": None,  # and its last
    "period": "",
    "quantity": "0",
    "quantity_exact": None,
    "unit_price": "0",
    "price_plan": None,
    "price_plan_name": None,
    "gross": "0.00",
    "discount": "0.00",
    "subsidy": "0.00",
    "voucher": "0.00",
    "net": "0.00",
    "currency": "",
    "credits": (),
    "usage_ids": (),
    "description": "",
}


def invoice_line(**given: Any) -> dict[str, Any]:
    """A line with every key of `INVOICE_LINE`; a key it does not know is a mistake, not a
    line of a new shape."""
    unknown = given.keys() - INVOICE_LINE.keys()
    if unknown:
        raise TypeError(f"invoice lines have no {sorted(unknown)}")
    return stored_line(given)


def stored_line(line: dict[str, Any]) -> dict[str, Any]:
    """A line as kept (an issued invoice's, perhaps from before a key was added), with every
    key of `INVOICE_LINE`."""
    blank = {**INVOICE_LINE, "credits": [], "usage_ids": []}
    return {**blank, **line}


class Bill(View):
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
        "from `day` to `last_day`, an adjustment, or a line another context prices (a lease, "
        "a reward held in escrow); every line has every key (null where it does not apply; "
        "docs/billing.md: invoices)"
    )
    unpriced: list[dict[str, Any]] = Field(description="usage no price plan prices")


# --- pages: what the list routes answer ----------------------------------------------------


class _Page(BaseModel):
    """A page of a list: each page names the type of its `items`, which keeps its place (first)
    in the JSON and the OpenAPI schema."""

    items: list[Any]
    next_cursor: str | None = None


class PricePlanVersions(_Page):
    items: list[PricePlanVersion]


class Vouchers(_Page):
    items: list[Voucher]


class Subsidies(_Page):
    items: list[Subsidy]


class Budgets(_Page):
    items: list[Budget]


class UsageRecords(_Page):
    items: list[UsageRecord]
    next_cursor: str | None = Field(default=None, description="always null: `limit` bounds it")


class IssuedInvoices(_Page):
    items: list[IssuedInvoice]


class MeterStatus(View):
    """One facility meter's last reading (kW now, or its kWh counter) and its last error."""

    name: str
    role: str  # utility | it | cooling
    kw: float | None  # the last power reading (power meters)
    kwh: float | None  # the last counter reading (energy meters)
    read_at: datetime | None
    error: str  # the last read's error, "" when it answered
    error_at: datetime | None


class FacilityHour(View):
    """A clock hour of the facility meters: the measured PUE beside the configured one, or a
    gap (null PUE; `gap` says why: missing, no-it, no-facility, no-it-power; `missing` names the
    meters without samples). Never interpolated."""

    hour: datetime
    pue: float | None
    configured_pue: float
    facility_kw: float | None  # mean kW over the hour (= kWh of the hour)
    it_kw: float | None
    cooling_kw: float | None
    facility_from: str  # utility, or it+cooling where the center has no utility meter
    gap: str
    missing: list[str]


class Facility(View):
    """The facility meters over a window of closed hours (newest first): the measured PUE of
    the measured hours (facility kWh / IT kWh), how many hours were gaps, and each meter now."""

    hours_asked: int
    meters: list[MeterStatus]
    hours: list[FacilityHour]
    measured_pue: float | None  # null: no measured hour in the window
    configured_pue: float  # the configured PUE now (the site's profile or constant)
    measured_hours: int
    gap_hours: int
