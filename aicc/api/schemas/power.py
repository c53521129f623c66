"""The site's power cap and estimated power (`services.power`; docs/green.md). Power in kW,
like the settings and the energy (kWh) of the books; the Prometheus gauges are in watts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from aicc.core.powercap import parse_power_kw
from aicc.core.units import parse_duration_s


class PowerCapEvent(BaseModel):
    id: str
    cap_kw: float
    start: datetime
    end: datetime
    set_by: str
    set_at: datetime | None
    note: str
    active: bool  # the window holds now


class PowerCapEventIn(BaseModel):
    """A cap for a window: `cap_kw` (a number of kW, or text such as `120kW`, `1.5MW`), from
    `start` (default now) until `end`, or for `duration_s` (seconds, or text such as `2h`)."""

    cap_kw: Annotated[float, BeforeValidator(parse_power_kw)]
    start: datetime | None = None
    end: datetime | None = None
    duration_s: Annotated[int | None, BeforeValidator(parse_duration_s)] = None
    note: Annotated[str, Field(max_length=200)] = ""


class PowerStatus(BaseModel):
    """The site's estimated facility power now (IT power from the meter's model x the hour's
    PUE), the cap in force and where it comes from, and the operators' events."""

    at: datetime
    estimated_kw: float
    pue: float
    cap_kw: float | None  # the cap in force now; null: none
    cap_source: str | None
    cap_until: datetime | None  # when an event's cap ends
    standing_cap_kw: float | None  # site.power_cap_kw
    events: list[PowerCapEvent]
    waiting_jobs: list[str]  # jobs the cap holds back now (ids, oldest first, at most 100)
