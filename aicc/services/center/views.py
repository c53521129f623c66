"""The center context's read models: the site's power cap and estimated power (docs/green.md),
as `center.power` returns them, the API answers them and the SDK parses them.

Pydantic, the standard library, `aicc.core` and `services.common` (the base `View`) only, so the SDK
imports this cheaply. Power in kW, like the settings and the energy (kWh) of the books; the
Prometheus gauges are in watts.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from aicc.core.powercap import CapEvent
from aicc.services.common import View


class PowerCapEvent(View):
    id: str
    cap_kw: float
    start: datetime
    end: datetime
    set_by: str
    set_at: datetime | None
    note: str
    active: bool  # the window holds now

    @classmethod
    def of(cls, event: CapEvent, now: datetime) -> PowerCapEvent:
        return cls(**asdict(event), active=event.covers(now))


class PowerStatus(View):
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


class DemandSignal(View):
    """One interval of one of an OpenADR event's signals, as the VTN sent it."""

    name: str  # SIMPLE, LOAD_DISPATCH, ELECTRICITY_PRICE, ...
    type: str  # level, setpoint, price, ...
    start: datetime
    end: datetime
    payload: float | None


class DemandWindow(View):
    """A cap the event asks for (kW, facility power) over its window."""

    start: datetime
    end: datetime
    cap_kw: float


class DemandReport(View):
    """The last report the VEN sent while the event's window held: the site's measured
    facility power and the cap asked, and the shed against the power when the event came in."""

    at: datetime
    measured_kw: float
    asked_kw: float | None
    shed_kw: float | None  # baseline_kw - measured_kw; null without a baseline


class DemandEvent(View):
    """An OpenADR event the VEN received (docs/energy.md, "Demand response"): the VTN's event,
    AICC's answer and why, the cap in force now (while its window holds) and what was shed."""

    id: str  # the VTN's event id
    status: str  # far, near, active, completed, cancelled: the VTN's word at the last delivery
    received_at: datetime  # the last delivery (a modified event is delivered again)
    signals: list[DemandSignal]
    windows: list[DemandWindow]  # the caps it asks for; none: no cap (cancelled, a price)
    answer: str  # optIn | optOut
    reason: str  # opted_out | under_floor | no_cap | capped (core/openadr.py `Answer`)
    why: str  # the reason in English
    floor_kw: float | None  # under_floor: the site's idle draw the cap is under
    active: bool  # one of its windows holds now
    cap_kw: float | None  # the site's cap in force now, while one of its windows holds
    baseline_kw: float | None  # the site's measured facility power when the event came in
    report: DemandReport | None


class DemandEvents(View):
    items: list[DemandEvent]
