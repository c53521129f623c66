"""The federation's bodies (docs/federation.md): a peer's advert, and the sites as listed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AdvertIn(BaseModel):
    """A site's advert; the fields routing reads are required, others are kept as sent."""

    model_config = ConfigDict(extra="allow")
    site: str = Field(max_length=40)
    jurisdiction: str = Field(max_length=16)
    models: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=256)
    cpu: dict[str, Any] = Field(default_factory=dict)
    prices: dict[str, Any] = Field(default_factory=dict)
    energy: dict[str, Any] = Field(default_factory=dict)
    datasets: list[dict[str, Any]] = Field(default_factory=list, max_length=10_000)


class AdvertReceived(BaseModel):
    site: str
    received_at: datetime


class Site(BaseModel):
    site: str
    url: str
    jurisdiction: str | None
    state: Literal["up", "lost"]
    received_at: datetime | None
    age_s: float | None
    advert: dict[str, Any] | None


class Settlement(BaseModel):
    id: int
    job_id: str
    attempt: int
    site: str
    remote_job_id: str
    amount: str
    currency: str
    state: Literal["open", "settled"]
    created_at: datetime
    settled_at: datetime | None
