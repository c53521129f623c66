"""A peer's advert as it is pushed (docs/federation.md); the answers are the federation
context's read models (aicc/services/federation/views.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from aicc.core.text import LINE

# What routing and settlement compute with: a number, never a string of one (a peer's "8" or
# "cheap" kept here made every routing pass raise), finite and not negative. Prices are decimals,
# as text or numbers. Fields this version does not know are kept as sent (extra="allow").
Count = Annotated[int, Field(strict=True, ge=0)]
Amount = Annotated[float, Field(strict=True, ge=0)]
Price = Annotated[Decimal, Field(ge=0, max_digits=24, decimal_places=8)]
Name = Annotated[str, Field(min_length=1, max_length=64), LINE]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)


class ModelAdvert(_Part):
    """One accelerator model the site has: devices, free ones, PFLOPS each, queue wait."""

    count: Count
    free: Count
    pflops: Amount
    wait_s: Amount
    price_hour: Amount | None = None
    power_kw: Amount | None = None
    simulated: bool = Field(default=False, strict=True)


class CpuAdvert(_Part):
    milli: Count | None = None
    free_milli: Count | None = None
    wait_s: Amount | None = None


class PricesAdvert(_Part):
    currency: str | None = Field(default=None, max_length=8)
    cpu_core_hour: Price | None = None
    memory_gib_hour: Price | None = None
    accelerator_hour: dict[Name, Price] = Field(default_factory=dict, max_length=256)
    pflops_hour: Price | None = None


class EnergyAdvert(_Part):
    pue: Annotated[float, Field(strict=True, ge=1, le=10)] | None = None
    carbon_g_per_kwh: Amount | None = None
    carbon_next_24h: Amount | None = None


class DatasetAdvert(_Part):
    name: Name
    bytes: Count
    org: str | None = None
    region: str | None = None


class AdvertIn(BaseModel):
    """A site's advert; the fields routing and settlement read are typed, so one that would make
    them fail is a 422 naming the field; others are kept as sent."""

    model_config = ConfigDict(extra="allow")
    site: Annotated[str, Field(max_length=40), LINE]
    jurisdiction: Annotated[str, Field(max_length=16), LINE]
    models: dict[Name, ModelAdvert] = Field(default_factory=dict, max_length=256)
    cpu: CpuAdvert = Field(default_factory=CpuAdvert)
    prices: PricesAdvert = Field(default_factory=PricesAdvert)
    energy: EnergyAdvert = Field(default_factory=EnergyAdvert)
    datasets: list[DatasetAdvert] = Field(default_factory=list, max_length=10_000)
