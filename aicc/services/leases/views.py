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
