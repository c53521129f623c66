"""The site's power cap (demand response): a standing cap from the settings
(`site.power_cap_kw`) and caps an operator sets for a window (`aicc center power-cap set`).
Pure: which cap is in force at a time, and the `120kW` quantities people write. The scheduler
holds new starts under it (scheduler/power.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from aicc.core.mistakes import InputError

MAX_KW = 1_000_000.0  # a gigawatt: beyond any one site
_POWER = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(w|kw|mw)?\s*$", re.IGNORECASE)
_TO_KW = {"w": 0.001, "kw": 1.0, "mw": 1000.0}


def parse_power_kw(value: str | int | float) -> float:
    """`"120kW"` -> 120.0, `"1.5MW"` -> 1500.0, `"800W"` -> 0.8; a bare number is kW."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError("a power must look like '120kW', '1.5MW' or '800W'")
    if isinstance(value, str):
        match = _POWER.match(value)
        if not match:
            raise InputError(
                "power {value!r} must look like '120kW', '1.5MW' or '800W'", value=value
            )
        kw = float(match.group(1)) * _TO_KW[(match.group(2) or "kw").lower()]  # 1e999: inf
    else:
        try:
            kw = float(value)
        except OverflowError:  # an integer of hundreds of digits
            kw = float("inf")
    if not 0 < kw <= MAX_KW:
        raise InputError("a power cap must be more than 0 and at most 1000000 kW (1 GW)")
    return kw


@dataclass(frozen=True)
class CapEvent:
    """A cap an operator set for `[start, end)` (demand response)."""

    id: str
    cap_kw: float
    start: datetime
    end: datetime
    set_by: str = ""
    set_at: datetime | None = None
    note: str = ""

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class CapInForce:
    cap_kw: float
    source: str  # "site.power_cap_kw", or "demand response until 14:00 UTC"
    until: datetime | None = None  # when an event's cap ends; None: the standing cap


def in_force(
    standing_kw: float | None, events: Iterable[CapEvent], at: datetime
) -> CapInForce | None:
    """The lowest of the standing cap and the caps of the events covering `at`; None if none.
    The lowest, because a demand-response event tightens the site's limit, never loosens it."""
    found = CapInForce(standing_kw, "site.power_cap_kw") if standing_kw is not None else None
    for event in events:
        if event.covers(at) and (found is None or event.cap_kw < found.cap_kw):
            found = CapInForce(
                event.cap_kw, f"demand response until {event.end:%Y-%m-%d %H:%M} UTC", event.end
            )
    return found
