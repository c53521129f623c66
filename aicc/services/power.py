"""The site's power: the cap the scheduler holds new starts under (a standing
`site.power_cap_kw` and demand-response events an operator sets for a window), the estimated
facility power now, and what the scheduler's snapshot learns of the site each pass (the carbon
forecast for the green planner, the cap in force).

Events live in the `settings` table under one key (operator-set state, no migration needed):
there are few of them, a center admin sets them, and each change is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from aicc.core import catalog
from aicc.core.energy import EnergyProfile
from aicc.core.powercap import CapEvent, CapInForce, in_force
from aicc.core.tenancy import Principal
from aicc.scheduler import power as model
from aicc.scheduler.snapshot import NodeView, PowerCap, Snapshot
from aicc.services import audit, snapshots
from aicc.services.common import Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.store.tables import SettingRow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

EVENTS_KEY = "power_cap_events"
MAX_WINDOW = timedelta(days=31)  # a demand-response event is hours, a curtailment season weeks
KEEP_ENDED = timedelta(days=7)  # ended events are listed this long, then dropped


@lru_cache(maxsize=256)
def tdp_w(model_name: str) -> float:
    """The catalog's TDP of a device model as the store names it; 0 for an unknown one."""
    try:
        return float(catalog.lookup(model_name).tdp_w)
    except KeyError:
        return 0.0


# --- events ---------------------------------------------------------------------------------


def events(session: Session) -> list[CapEvent]:
    """Every event kept (ended ones for KEEP_ENDED), earliest start first."""
    row = session.get(SettingRow, EVENTS_KEY)
    found = []
    for item in row.value.get("events", []) if row is not None else []:
        found.append(
            CapEvent(
                id=item["id"],
                cap_kw=float(item["cap_kw"]),
                start=datetime.fromisoformat(item["start"]),
                end=datetime.fromisoformat(item["end"]),
                set_by=item.get("set_by", ""),
                set_at=datetime.fromisoformat(item["set_at"]) if item.get("set_at") else None,
                note=item.get("note", ""),
            )
        )
    return sorted(found, key=lambda e: (e.start, e.id))


def _save(session: Session, found: list[CapEvent]) -> None:
    value = {
        "events": [
            {
                "id": e.id,
                "cap_kw": e.cap_kw,
                "start": e.start.isoformat(),
                "end": e.end.isoformat(),
                "set_by": e.set_by,
                "set_at": e.set_at.isoformat() if e.set_at else None,
                "note": e.note,
            }
            for e in found
        ]
    }
    session.merge(SettingRow(key=EVENTS_KEY, value=value))


def _admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("only center admins set the site's power cap")


def add_event(
    session: Session,
    who: Principal,
    cap_kw: float,
    start: datetime | None,
    end: datetime,
    note: str = "",
    now: datetime | None = None,
) -> CapEvent:
    """A cap for `[start, end)` (start default: now). Center admins; audited."""
    _admin(who)
    now = now or utcnow()
    begin = (start or now).astimezone(UTC)
    end = end.astimezone(UTC)
    if end <= begin:
        raise Invalid("until: {end} is not after from ({start})", end=end, start=begin)
    if end <= now:
        raise Invalid("until: {end} has passed; give a later time", end=end)
    if end - begin > MAX_WINDOW:
        raise Invalid("until: a demand-response window is at most 31 days; set a standing cap")
    event = CapEvent(new_id("pcap"), cap_kw, begin, end, who.name, now, note)
    kept = [e for e in events(session) if e.end > now - KEEP_ENDED]
    _save(session, [*kept, event])
    detail = {"cap_kw": cap_kw, "from": begin.isoformat(), "until": end.isoformat()}
    audit.record(session, who, "power_cap.set", "power_cap", event.id, detail=detail, now=now)
    return event


def clear(session: Session, who: Principal, event_id: str) -> CapEvent:
    """Remove one event: its cap no longer holds. Center admins; audited."""
    _admin(who)
    found = events(session)
    gone = next((e for e in found if e.id == event_id), None)
    if gone is None:
        raise NotFound("power cap event {event_id} not found", event_id=event_id)
    _save(session, [e for e in found if e.id != event_id])
    audit.record(session, who, "power_cap.clear", "power_cap", event_id)
    return gone


# --- the site as the scheduler sees it -------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The site's power now: the estimate, the cap in force (None: no cap) and the events."""

    at: datetime
    estimated_w: float
    pue: float
    cap: CapInForce | None
    standing_kw: float | None
    events: list[CapEvent] = field(default_factory=list)


@dataclass(frozen=True)
class Site:
    """What each scheduling pass (and explain) adds to the snapshot: the carbon forecast of the
    next `horizon_h` hours and the power cap in force, with the meter's power model."""

    standing_kw: float | None = None
    pue: float = 1.3
    idle_fraction: float = 0.15
    utilization: float = 1.0
    profile: EnergyProfile | None = None
    horizon_h: int = 48

    def pue_at(self, at: datetime) -> float:
        found = self.profile.pue_at(at) if self.profile is not None else None
        return self.pue if found is None else found

    def carbon(self, now: datetime) -> tuple[float, ...]:
        """gCO₂/kWh by clock hour from the one holding `now` (empty: no profile)."""
        if self.profile is None or self.profile.carbon_intensity is None:
            return ()
        return self.profile.carbon_hours(now, self.horizon_h)

    def power_cap(
        self, cap: CapInForce | None, nodes: list[NodeView], now: datetime
    ) -> PowerCap | None:
        if cap is None:
            return None
        return PowerCap(
            cap_w=cap.cap_kw * 1000,
            tdp_w=self._tdp(nodes),
            pue=self.pue_at(now),
            idle_fraction=self.idle_fraction,
            utilization=self.utilization,
            source=cap.source,
        )

    def _tdp(self, nodes: list[NodeView]) -> dict[str, float]:
        return {d.model: tdp_w(d.model) for n in nodes for d in n.devices}

    def cap_in_force(self, session: Session, now: datetime) -> CapInForce | None:
        return in_force(self.standing_kw, events(session), now)

    def decorate(self, session: Session, snapshot: Snapshot) -> Snapshot:
        """`snapshot` with the site's carbon forecast and power cap at its `now`."""
        now = snapshot.now
        cap = self.cap_in_force(session, now)
        return replace(
            snapshot,
            carbon=self.carbon(now),
            power=self.power_cap(cap, snapshot.nodes, now),
        )

    def reading(self, session: Session, now: datetime | None = None) -> Reading:
        """The estimated facility power now (the scheduler's model, on the nodes as they are),
        the cap in force and the events (center overview, metrics, `power-cap list`)."""
        now = now or utcnow()
        nodes = snapshots.node_views(session)
        cap = self.cap_in_force(session, now)
        pue = self.pue_at(now)
        estimate = PowerCap(
            cap_w=0.0,
            tdp_w=self._tdp(nodes),
            pue=pue,
            idle_fraction=self.idle_fraction,
            utilization=self.utilization,
        )
        return Reading(
            at=now,
            estimated_w=model.facility_w(estimate, nodes),
            pue=pue,
            cap=cap,
            standing_kw=self.standing_kw,
            events=events(session),
        )


Decorate = Callable[[Session, Snapshot], Snapshot]


class Collector:
    """The Prometheus gauges of the site's power, in base units (watts): the estimate now and
    the cap in force (absent without one)."""

    def __init__(self, site: Site, session: Session) -> None:
        self.site = site
        self.session = session

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        reading = self.site.reading(self.session)
        now = GaugeMetricFamily(
            "aicc_site_power_watts",
            "Estimated facility power now (W): devices' idle power plus the busy share of "
            "held ones at the assumed utilization, times the hour's PUE.",
        )
        now.add_metric([], reading.estimated_w)
        yield now
        if reading.cap is not None:
            cap = GaugeMetricFamily(
                "aicc_site_power_cap_watts",
                "The facility power cap in force (W); new jobs wait under it.",
            )
            cap.add_metric([], reading.cap.cap_kw * 1000)
            yield cap
