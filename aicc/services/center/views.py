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
