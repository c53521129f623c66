"""The telemetry context's read models: utilization KPIs (docs/billing.md: utilization) and
idle allocations, as `telemetry.kpis` returns them and the API answers them.

Pydantic, the standard library and `services.common` (the base `View`) only, so the SDK imports
this cheaply.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from aicc.services.common import View


class UtilizationRow(View):
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

    @property
    def by(self) -> str:
        """Which of `pool`, `model` and `org` this row names (the one that was set)."""
        return next(key for key in ("pool", "model", "org") if key in self.model_fields_set)

    @property
    def group(self) -> str:
        return str(getattr(self, self.by) or "")


# A page of rows; answered with `exclude_unset`, so a row names only its own group.
class Utilization(BaseModel):
    items: list[UtilizationRow]
    next_cursor: str | None = None


# A running replica whose devices were all measured under 5% busy for 30 minutes.
class IdleReplica(View):
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


class PowerBucket(View):
    # a node's power samples in [at, at + the curve's bucket_s): how many, their least, mean and
    # greatest watts, and the last limit in force its BMC said (core/power_curve.py)

    at: datetime
    samples: int
    min_w: float
    avg_w: float
    max_w: float
    limit_w: float | None = None


class PowerCurve(View):
    # a node's measured power over the last `hours` (services/telemetry/samples.py): one source
    # (`bmc`, the whole node, where its BMC is read; else `rapl`, its CPUs and memory), at most
    # ~300 buckets and the window's summary; `sources` are all that sampled it in the window

    node: str
    hours: float
    since: datetime
    until: datetime
    source: str  # bmc | rapl | "" (never measured in the window)
    sources: list[str]
    bucket_s: int
    samples: int
    now_w: float | None
    now_at: datetime | None
    avg_w: float | None
    max_w: float | None
    kwh: float
    limit_w: float | None  # the limit in force at the last sample (None: none, or unknown)
    buckets: list[PowerBucket]
