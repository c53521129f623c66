"""An OpenADR 2.0b demand-response event into the site power caps it asks for (docs/energy.md,
"Demand response"). Pure: the VEN (loops/openadr.py) receives the event, the center's power
service keeps the caps (services/center/power.py `demand_response`).

Two signals lower the cap: `LOAD_DISPATCH` with type `setpoint`, whose payload is the site's
facility power in kW for the interval, and `SIMPLE` (or `simple`) with type `level`, whose level
(1 moderate, 2 high, 3 special; 0 normal: no cap) is mapped to kW by the operator's `levels`.
Each interval of such a signal is one window `[dtstart, dtstart + duration)`; other signals
(prices, for example) are acknowledged and ask for no cap. A cancelled event asks for none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

MAX_KW = 1_000_000.0  # a site cap's ceiling, as `site.power_cap_kw`'s


@dataclass(frozen=True)
class Window:
    """A cap the event asks for: `cap_kw` from `start` to `end`."""

    start: datetime
    end: datetime
    cap_kw: float


def event_id(event: Mapping[str, Any]) -> str:
    descriptor = event.get("event_descriptor") or {}
    return str(descriptor.get("event_id") or "")[:64]


def cancelled(event: Mapping[str, Any]) -> bool:
    descriptor = event.get("event_descriptor") or {}
    return str(descriptor.get("event_status") or "").lower() == "cancelled"


def _kw(signal: Mapping[str, Any], payload: Any, levels: Mapping[int, float]) -> float | None:
    name = str(signal.get("signal_name") or "").upper()
    kind = str(signal.get("signal_type") or "").lower()
    try:
        value = float(payload)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    if name == "LOAD_DISPATCH" and kind == "setpoint":
        return value if 0 < value <= MAX_KW else None
    if name == "SIMPLE" and kind == "level":
        return levels.get(round(value))  # level 0, or one the operator did not map: no cap
    return None


def windows(event: Mapping[str, Any], levels: Mapping[int, float]) -> list[Window]:
    """The caps `event` asks for, by start; none when it is cancelled or asks for no cap."""
    if cancelled(event):
        return []
    found: list[Window] = []
    for signal in event.get("event_signals") or []:
        for interval in signal.get("intervals") or []:
            start, duration = interval.get("dtstart"), interval.get("duration")
            if not isinstance(start, datetime) or not isinstance(duration, timedelta):
                continue
            if start.tzinfo is None or duration <= timedelta(0):
                continue
            cap = _kw(signal, interval.get("signal_payload"), levels)
            if cap is not None:
                found.append(Window(start, start + duration, cap))
    return sorted(found, key=lambda w: (w.start, w.cap_kw))


def opt(found: list[Window], *, floor_kw: float, opt_out: bool) -> str:
    """The VEN's answer to an event asking for the caps `found`: `optOut` when the operator
    opted the site out, or when a cap is under `floor_kw` (what the site draws with every
    device idle: holding starts back cannot get under it); else `optIn`."""
    if opt_out or any(w.cap_kw < floor_kw for w in found):
        return "optOut"
    return "optIn"
