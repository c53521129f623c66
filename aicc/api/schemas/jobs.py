"""Jobs, their replicas, events and why they wait (`services.jobs`' read models, as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from aicc.services.jobs import jobs


class ReplicaDevice(BaseModel):
    index: int
    milli: int
    model: str | None = None
    memory_mib: int | None = None
    mig_slice: int | None = None  # the MIG slice of the device this replica holds


class Replica(BaseModel):
    index: int
    attempt: int
    node: str
    devices: list[ReplicaDevice]
    state: str
    exit_code: int | None
    reason: str | None
    started_at: datetime | None
    ended_at: datetime | None
    peak_rss_mib: int | None


class Job(BaseModel):
    id: str
    name: str
    org_id: str
    project_id: str
    project: str
    queue: str
    user: str
    kind: str
    state: str
    reason: str
    message: str
    attempt: int
    exit_code: int | None
    priority: int
    cancel_requested: bool
    spec: dict[str, Any] = Field(
        title="Stored spec", description="the JobSpec as stored, with what submit filled in"
    )
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    replicas: list[Replica]


def job_out(job: jobs.Job) -> Job:
    """The answer for a job the service read: a conversion, no queries."""
    return Job.model_validate(job, from_attributes=True)


class Event(BaseModel):
    id: int
    job_id: str | None
    kind: str
    from_state: str | None
    to_state: str | None
    reason: str
    message: str
    attempt: int
    at: datetime
    data: dict[str, Any]


class ExplainReason(BaseModel):
    code: str
    message: str


class Explain(BaseModel):
    state: str
    reasons: list[ExplainReason]
    position: int | None
    estimated_start: datetime | None = Field(
        None, description="null until the scheduler can forecast (issue 3: what-if runs)"
    )


class Metrics(BaseModel):
    """A job's training curves from its `metrics.jsonl` (`services.metrics`)."""

    job_id: str
    running: bool = Field(description="the job has not ended: poll again with `since=last_step`")
    # `[step, value]` pairs as lists: a tuple's `prefixItems` under `additionalProperties` is a
    # schema some OpenAPI tools (schemathesis) cannot read.
    metrics: dict[str, list[list[int | float]]] = Field(
        description="each metric's `[step, value]` points, by step as written"
    )
    last_step: int | None = Field(description="the largest step written so far")
    points: int = Field(
        description="points that matched, before thinning to `max_points` (of a very long run, "
        "the evenly spread ones the server keeps)"
    )
    thinned: bool = Field(description="some metric had more points and was evenly downsampled")
