"""Utilization KPIs (docs/billing.md: utilization): a row per group and day, idle allocations."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class UtilizationRow(BaseModel):
    """One group (the `by` of the request: `pool`, `model` or `org`, the only one of the three
    present) on one day; real and simulated devices are rows apart."""

    day: str
    pool: str | None = None
    model: str | None = None
    org: str | None = None
    simulated: bool
    capacity_device_hours: float
    allocated_device_hours: float
    allocation_rate: float | None
    busy_rate: float | None = Field(description="measured (NVML) or null, never estimated")
    busy_samples: int


class Utilization(BaseModel):
    items: list[UtilizationRow]
    next_cursor: str | None = None


class IdleReplica(BaseModel):
    job_id: str
    org_id: str
    project_id: str
    replica: int
    node_id: str | None
    devices: list[int]
    model: str | None
    since: datetime | None
    max_utilization: float


class IdleReplicas(BaseModel):
    items: list[IdleReplica]
    next_cursor: str | None = None
