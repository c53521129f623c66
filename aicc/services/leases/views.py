"""The leases context's read models: a lease as its holder and the center's admins see it, with
how its capacity is used now. Pydantic, the standard library and `services.common` only."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from aicc.services.common import View


class LeasedDevice(View):
    node: str
    index: int


class LeaseJob(View):
    # one of the lessee's jobs on the lease's capacity (running) or waiting for it

    id: str
    name: str
    state: str


class LeaseUse(View):
    """How the leased capacity is used now, in devices (whole nodes: their devices; a node
    without devices counts as one): by the lessee's jobs, lent to others', idle."""

    in_use: int = 0
    lent: int = 0
    idle: int = 0


class Lease(View):
    """A lease of whole nodes or of devices to an organization, with the fields a later SLA
    report and the books read (`tier`, `plan`, `starts_at`, `ends_at`, `ended_at`).
    `state`: scheduled | active | ended."""

    id: str
    org_id: str
    org: str
    nodes: list[str]
    devices: list[LeasedDevice]
    pool: str | None
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None
    tier: float
    plan: str | None
    lends: bool
    state: str
    created_at: datetime
    use: LeaseUse = Field(default_factory=LeaseUse)
    running: list[LeaseJob] = Field(default_factory=list)
    waiting: list[LeaseJob] = Field(default_factory=list)


# --- SLA reports (services/leases/sla.py) ---


class Incident(View):
    """Leased devices out, from `start` to `end` (null: still out at the report's end):
    `minutes` counted against the SLA, `excluded_minutes` inside announced maintenance."""

    start: datetime
    end: datetime | None
    minutes: int
    excluded_minutes: int
    node: str
    devices: list[int]  # the leased device indexes (-1: a node without devices)
    state: str
    reason: str


class ExcludedWindow(View):
    id: str
    starts_at: datetime
    ends_at: datetime
    nodes: list[str]
    reason: str


class SlaReport(View):
    """A lease's month: availability per leased device-minute against its tier, and the
    service credit it earns of the month's lease charge (docs/operations.md: SLA reports)."""

    lease_id: str
    org: str
    month: str
    tier: float
    starts_at: datetime | None  # the lease's part of the month that has passed, if any
    ends_at: datetime | None
    final: bool  # the month (or the lease) is over: the figures no longer change
    devices: int
    leased_device_minutes: int
    lost_device_minutes: int
    excluded_device_minutes: int
    availability_pct: float
    incidents: list[Incident]
    maintenance: list[ExcludedWindow]
    currency: str
    charge: str  # the month's lease charge
    credit_pct: float
    credit: str  # the service credit, an amount of `currency`
