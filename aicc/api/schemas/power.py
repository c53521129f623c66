"""A power cap for a window as an operator sends it (docs/green.md); the answers are the center
context's read models (aicc/services/center/views.py). Power in kW."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from aicc.core.powercap import parse_power_kw
from aicc.core.text import LINE
from aicc.core.units import parse_duration_s


class PowerCapEventIn(BaseModel):
    """A cap for a window: `cap_kw` (a number of kW, or text such as `120kW`, `1.5MW`), from
    `start` (default now) until `end`, or for `duration_s` (seconds, or text such as `2h`)."""

    cap_kw: Annotated[float, BeforeValidator(parse_power_kw)]
    start: datetime | None = None
    end: datetime | None = None
    duration_s: Annotated[int | None, BeforeValidator(parse_duration_s)] = None
    note: Annotated[str, Field(max_length=200), LINE] = ""
