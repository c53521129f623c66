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
    return answer(found, floor_kw=floor_kw, opt_out=opt_out).opt


@dataclass(frozen=True)
class Answer:
    """The VEN's answer to an event, and why: `reason` a stable code (`opted_out`,
    `under_floor`, `no_cap`, `capped`) the portal translates, `why` the same in English for the
    API and the CLI; `cap_kw` the lowest cap asked, `floor_kw` the idle floor it was held to."""

    opt: str  # optIn | optOut
    reason: str
    why: str
    cap_kw: float | None = None
    floor_kw: float | None = None


def answer(found: list[Window], *, floor_kw: float | None, opt_out: bool) -> Answer:
    """`opt`'s answer and why (`floor_kw` None: not looked at, the site being opted out)."""
    low = min((w.cap_kw for w in found), default=None)
    if opt_out:
        return Answer("optOut", "opted_out", "the site is opted out (openadr.opt_out)", low)
    if floor_kw is not None and low is not None and low < floor_kw:
        why = (
            f"a cap of {low:g} kW is under the {floor_kw:.1f} kW the site draws with every "
            "device idle; its caps are kept all the same"
        )
        return Answer("optOut", "under_floor", why, low, floor_kw)
    if low is None:
        return Answer("optIn", "no_cap", "no cap asked (cancelled, or no signal AICC acts on)")
    return Answer("optIn", "capped", f"new starts held under {low:g} kW in its window(s)", low)


@dataclass(frozen=True)
class Signal:
    """One interval of one of an event's signals, as the VTN sent it (for the operators' page):
    the payload is the number it carried (a level, a setpoint in kW, a price), None if none."""

    name: str
    kind: str
    start: datetime
    end: datetime
    payload: float | None


def signals(event: Mapping[str, Any], limit: int = 48) -> list[Signal]:
    """The event's signals' intervals, by start, at most `limit` (a day's half-hours)."""
    found: list[Signal] = []
    for signal in event.get("event_signals") or []:
        name = str(signal.get("signal_name") or "")[:64]
        kind = str(signal.get("signal_type") or "")[:64]
        for interval in signal.get("intervals") or []:
            start, duration = interval.get("dtstart"), interval.get("duration")
            if not isinstance(start, datetime) or not isinstance(duration, timedelta):
                continue
            if start.tzinfo is None:
                continue
            try:
                value: float | None = float(interval.get("signal_payload"))
            except (TypeError, ValueError):
                value = None
            if value is not None and not math.isfinite(value):
                value = None
            found.append(Signal(name, kind, start, start + duration, value))
    return sorted(found, key=lambda s: (s.start, s.name))[:limit]


def status(event: Mapping[str, Any]) -> str:
    """The event's status as the VTN gave it (far, near, active, completed, cancelled)."""
    descriptor = event.get("event_descriptor") or {}
    return str(descriptor.get("event_status") or "")[:32].lower()
