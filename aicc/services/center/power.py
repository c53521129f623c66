"""The site's power: the cap the scheduler holds new starts under (a standing
`site.power_cap_kw` and demand-response events an operator sets for a window), the estimated
facility power now, and what the scheduler's snapshot learns of the site each pass (the carbon
forecast for the green planner: the operator's day-ahead file, `site.carbon_forecast`, over the
energy profile's hours; the cap in force).

Events live in the `settings` table under one key (operator-set state, no migration needed):
there are few of them, a center admin sets them, and each change is audited.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from aicc.core import accelerator_names
from aicc.core.energy import CARBON, EnergyProfile, ProfileError, epoch_hour, parse_csv
from aicc.core.openadr import Window
from aicc.core.powercap import CapEvent, CapInForce, in_force
from aicc.core.tenancy import Principal
from aicc.scheduler import power as model
from aicc.scheduler.snapshot import NodeView, PowerCap, Snapshot
from aicc.services import changes
from aicc.services.billing import facility
from aicc.services.center.views import PowerCapEvent, PowerStatus
from aicc.services.common import Forbidden, Invalid, NotFound, new_id, utcnow
from aicc.services.jobs import census, snapshots
from aicc.services.nodes import census as node_census
from aicc.services.telemetry import samples
from aicc.services.tenancy import audit
from aicc.store.tables.center import SettingRow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)
EVENTS_KEY = "power_cap_events"
MAX_WINDOW = timedelta(days=31)  # a demand-response event is hours, a curtailment season weeks
KEEP_ENDED = timedelta(days=7)  # ended events are listed this long, then dropped
FRESH = timedelta(minutes=5)  # a meter or BMC reading older than this no longer says "now"


@lru_cache(maxsize=256)
def tdp_w(model_name: str) -> float:
    """The catalog's TDP of a device model as the store names it; 0 for an unknown one."""
    try:
        return float(accelerator_names.lookup(model_name).tdp_w)
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
    for name, at in (("from", start), ("until", end)):
        if at is not None and at.tzinfo is None:
            raise Invalid(
                "{name}: {at} needs a time zone: write 2026-11-25T14:00:00Z or +08:00",
                name=name,
                at=at.isoformat(),
            )
    now = now or utcnow()
    try:
        begin = (start or now).astimezone(UTC)
        end = end.astimezone(UTC)
    except OverflowError:
        raise Invalid("until: a time within the years 1 to 9999, in UTC") from None
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
    changes.changed(session)  # the scheduler holds new starts under it
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
    changes.changed(session)  # jobs held for the cap may start
    return gone


DEMAND_RESPONSE = "openadr"  # `set_by` of the caps an OpenADR event asked for


def demand_response(
    session: Session, source_id: str, windows: list[Window], now: datetime
) -> list[CapEvent]:
    """The caps an OpenADR event (`source_id`) asks for, in place of those it asked for before
    (a modified event replaces them; a cancelled one, with no windows, removes them). Windows
    already over are dropped, one longer than MAX_WINDOW is cut to it. Audited as `system`."""
    note = f"OpenADR event {source_id}"
    kept = [
        e
        for e in events(session)
        if e.end > now - KEEP_ENDED and not (e.set_by == DEMAND_RESPONSE and e.note == note)
    ]
    added = [
        CapEvent(new_id("pcap"), w.cap_kw, w.start.astimezone(UTC),
                 min(w.end, w.start + MAX_WINDOW).astimezone(UTC), DEMAND_RESPONSE, now, note)
        for w in windows
        if w.end > now
    ]  # fmt: skip
    _save(session, [*kept, *added])
    detail = {
        "event": source_id,
        "windows": [
            {"cap_kw": e.cap_kw, "from": e.start.isoformat(), "until": e.end.isoformat()}
            for e in added
        ],
    }
    audit.record(session, None, "power_cap.demand_response", "power_cap", source_id, detail=detail)
    changes.changed(session)  # the scheduler holds new starts under it, or no longer
    return added


def asked_kw(session: Session, now: datetime) -> float | None:
    """The lowest cap an OpenADR event asks for at `now`; None when no event's window holds it
    (what the VEN reports against the measured kW)."""
    return min(
        (e.cap_kw for e in events(session) if e.set_by == DEMAND_RESPONSE and e.covers(now)),
        default=None,
    )


def waiting_for_power(session: Session, limit: int = 100) -> list[str]:
    """The waiting jobs whose last pass held them for the power cap, oldest first."""
    return census.waiting_held_by(session, model.PREFIX, limit=limit)


# --- the operator's carbon forecast ----------------------------------------------------------


@dataclass(frozen=True)
class ForecastState:
    """The forecast file as last read: when it was written (mtime), how many hours from now
    it covers, whether it is stale (then ignored), and why it cannot be used (unreadable)."""

    path: str
    updated_at: datetime | None = None
    age_s: float | None = None
    hours_ahead: int = 0
    stale: bool = False
    problem: str | None = None

    @property
    def used(self) -> bool:
        return self.problem is None and not self.stale and self.updated_at is not None


class CarbonForecast:
    """A `time,value` CSV of hourly carbon intensity that an operator's job keeps current
    (`site.carbon_forecast`). Read again only when its mtime changes; a file older than
    `max_age` is stale and ignored (one warning per version of the file), as is one that does
    not parse (the last warning names the line)."""

    def __init__(self, path: Path, max_age: timedelta) -> None:
        self.path = path
        self.max_age = max_age
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._hourly: dict[int, float] = {}
        self._problem: str | None = None
        self._warned: tuple[float | None, str] | None = None

    def _load(self) -> float | None:
        """Read the file again if it changed; its mtime (None when missing)."""
        try:
            mtime = self.path.stat().st_mtime
        except OSError as err:
            self._mtime, self._hourly = None, {}
            self._problem = f"cannot read {self.path}: {err.strerror or err}"
            return None
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                text = self.path.read_text(encoding="utf-8")
                self._hourly = parse_csv(
                    text, name=self.path.name, column=None, bounds=CARBON, zone=ZoneInfo("UTC")
                )
                self._problem = None
            except (OSError, ProfileError) as err:
                self._hourly, self._problem = {}, str(err)
        return mtime

    def state(self, now: datetime) -> tuple[ForecastState, dict[int, float]]:
        """The file's state at `now` and its hourly values by epoch hour ({} when not used)."""
        with self._lock:
            mtime = self._load()
            hourly, problem = self._hourly, self._problem
        path = str(self.path)
        if mtime is None:
            found = ForecastState(path, problem=problem)
        else:
            updated = datetime.fromtimestamp(mtime, UTC)
            age = (now - updated).total_seconds()
            ahead = sum(1 for hour in hourly if hour >= epoch_hour(now))
            stale = age > self.max_age.total_seconds()
            found = ForecastState(path, updated, age, ahead, stale, problem)
        self._warn(found)
        return found, (hourly if found.used else {})

    def _warn(self, found: ForecastState) -> None:
        why = found.problem or (
            f"{found.path} is {found.age_s / 3600:.1f} h old, older than "
            f"site.carbon_forecast_max_age_h ({self.max_age.total_seconds() / 3600:g}); "
            "the green planner ignores it until it is refreshed"
            if found.stale and found.age_s is not None
            else None
        )
        if why is None or self._warned == (self._mtime, why):
            return
        self._warned = (self._mtime, why)
        log.warning("carbon forecast not used: %s", why)


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
    forecast: ForecastState | None = None  # the operator's carbon forecast file, if set
    waiting: list[str] = field(default_factory=list)  # jobs waiting for the cap (ids, oldest first)

    def status(self, now: datetime) -> PowerStatus:
        """The reading as the API shows it; an event is `active` when its window holds `now`."""
        return PowerStatus(
            at=self.at,
            estimated_kw=self.estimated_w / 1000,
            pue=self.pue,
            cap_kw=self.cap.cap_kw if self.cap else None,
            cap_source=self.cap.source if self.cap else None,
            cap_until=self.cap.until if self.cap else None,
            standing_cap_kw=self.standing_kw,
            events=[PowerCapEvent.of(e, now) for e in self.events],
            waiting_jobs=self.waiting,
        )


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
    forecast: CarbonForecast | None = None  # the operator's day-ahead forecast file
    core_w: float = 6.0  # IT watts per core of a CPU job on a node not measured (site.cpu_core_w)

    def pue_at(self, at: datetime) -> float:
        found = self.profile.pue_at(at) if self.profile is not None else None
        return self.pue if found is None else found

    def carbon(self, now: datetime) -> tuple[float, ...]:
        """gCO₂/kWh by clock hour from the one holding `now`: the operator's forecast where it
        covers the hour (and is fresh), else the energy profile's; up to the first hour
        neither knows (empty: no forecast and no profile carbon)."""
        hourly = self.forecast.state(now)[1] if self.forecast is not None else {}
        profile = self.profile
        found: list[float] = []
        for hour in range(self.horizon_h):
            at = now + timedelta(hours=hour)
            value = hourly.get(epoch_hour(at))
            if value is None and profile is not None:
                value = profile.carbon_at(at)
            if value is None:
                break
            found.append(value)
        return tuple(found)

    def power_cap(
        self,
        cap: CapInForce | None,
        nodes: list[NodeView],
        now: datetime,
        node_w: dict[str, float] | None = None,
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
            until=cap.until,
            node_w=node_w or {},
            core_w=self.core_w,
        )

    def node_w(self, session: Session, now: datetime) -> dict[str, float]:
        """Each node's measured IT power (W) over the last FRESH, by node name: the mean of its
        BMC or RAPL samples as the meter takes it (`samples.node_power_w`), from which a CPU job
        draws its share under the cap. Nodes without fresh samples are absent."""
        names = node_census.names_by_id(session)
        found = samples.node_power_w(session, list(names), now - FRESH, now + timedelta(seconds=1))
        return {names[node]: watts for node, (_, watts) in found.items()}

    def _tdp(self, nodes: list[NodeView]) -> dict[str, float]:
        return {d.model: tdp_w(d.model) for n in nodes for d in n.devices}

    def cap_in_force(self, session: Session, now: datetime) -> CapInForce | None:
        return in_force(self.standing_kw, events(session), now)

    def decorate(self, session: Session, snapshot: Snapshot) -> Snapshot:
        """`snapshot` with the site's carbon forecast and power cap at its `now`."""
        now = snapshot.now
        kept = events(session)
        cap = in_force(self.standing_kw, kept, now)
        return replace(
            snapshot,
            carbon=self.carbon(now),
            power=self.power_cap(
                cap, snapshot.nodes, now, self.node_w(session, now) if cap else None
            ),
            shed=tuple((e.start, e.end) for e in kept if e.end > now),
        )

    def reading(self, session: Session, now: datetime | None = None) -> Reading:
        """The estimated facility power now (the scheduler's model, on the nodes and the CPU
        jobs as they are), the cap in force and the events (center overview, metrics,
        `power-cap list`)."""
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
            node_w=self.node_w(session, now),
            core_w=self.core_w,
        )
        cpu_jobs = self._cpu_jobs_w(session, estimate, nodes)
        return Reading(
            at=now,
            estimated_w=model.facility_w(estimate, nodes) + cpu_jobs,
            pue=pue,
            cap=cap,
            standing_kw=self.standing_kw,
            events=events(session),
            forecast=self.forecast.state(now)[0] if self.forecast is not None else None,
            waiting=waiting_for_power(session),
        )

    def _cpu_jobs_w(self, session: Session, estimate: PowerCap, views: list[NodeView]) -> float:
        """Facility watts of the replicas without an accelerator that hold their node now, as
        the scheduler's budget counts them (scheduler/power.py `cpu_w`)."""
        nodes = {n.name: n for n in views}
        names = {i: n for n, i in snapshots.node_ids(session).items()}
        it = 0.0
        for held in census.holding(session):
            if not held.devices:
                node = nodes.get(names.get(held.node_id, ""))
                it += model.cpu_w(estimate, held.cpu_milli, held.memory_mib, node)
        return it * estimate.pue

    def floor_kw(self, session: Session, now: datetime) -> float:
        """The facility kW the site draws with nothing held (every device idle): a cap under it
        cannot be met by holding starts back (the VEN opts out of such an event)."""
        nodes = snapshots.node_views(session)
        idle = sum(tdp_w(d.model) * self.idle_fraction for n in nodes for d in n.devices)
        return idle * self.pue_at(now) / 1000

    def measured_kw(self, session: Session, now: datetime) -> tuple[float, str]:
        """The site's facility power now and where it comes from, the best AICC has: the
        facility meters' fresh kW readings (`utility`, else `it` plus `cooling`), else the
        nodes' fresh BMC samples times the hour's PUE, else the power model's estimate."""
        since = now - FRESH
        latest = facility.latest_kw(session, since)
        by_role: dict[str, float] = {}
        for role, kw in latest.values():
            by_role[role] = by_role.get(role, 0.0) + kw
        if "utility" in by_role:
            return by_role["utility"], "facility meters"
        if "it" in by_role:
            return by_role["it"] + by_role.get("cooling", 0.0), "facility meters"
        nodes = samples.latest_watts(session, since, source="bmc")
        if nodes:
            return sum(nodes.values()) * self.pue_at(now) / 1000, "node BMCs"
        return self.reading(session, now).estimated_w / 1000, "estimate"


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
