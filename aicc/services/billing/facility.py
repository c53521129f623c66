"""The facility meters' samples and hours (billing context; docs/energy.md, "Facility meters").

The meters step (loops/meters.py) stores each reading as it comes (`record`, an error too, so
a meter that stopped answering shows as such), then closes the hours that are over
(`close_hours`): one `facility_hours` row per clock hour from the first sample on, with the
measured PUE or the gap, written once, never filled in later and never interpolated. An hour
closes when every meter has a sample past its end (its figures cannot change after that) or
`MAX_GAP` after its end. Samples are kept `KEEP` (the hours hold what the pages read).

The billing meter asks `pue_of_hour` for a record's hour: the closed hour's measured PUE, or,
while it is not closed yet, the same computation over the samples in (so a record metered just
after the hour still gets the measured PUE); None: a gap, or no meters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from aicc.core import meters as model
from aicc.core.meters import HOUR, MAX_GAP, HourPue, Outcome, Point
from aicc.core.periods import hour_floor
from aicc.core.tenancy import Principal
from aicc.services.billing.views import Facility, FacilityHour, MeterStatus
from aicc.services.common import Forbidden, from_row, utc
from aicc.store.tables.billing import FacilityHourRow, MeterSampleRow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

KEEP = timedelta(days=7)  # samples older than this are deleted
BACKLOG = timedelta(days=31)  # hours further back than this are not closed after a long stop
Meter = tuple[str, str, str]  # name, role, measures (power | energy)


def record(session: Session, outcomes: Iterable[Outcome], now: datetime) -> int:
    """Store the readings that finished (an error as a row with no value)."""
    rows = [
        MeterSampleRow(meter=o.meter, role=o.role, at=now, kw=o.kw, kwh=o.kwh, error=o.error[:200])
        for o in outcomes
    ]
    session.add_all(rows)
    return len(rows)


def _samples(session: Session, names: Sequence[str], start: datetime) -> dict[str, list[Point]]:
    """Each meter's good samples around the hour from `start` (MAX_GAP either side), by time."""
    found: dict[str, list[Point]] = defaultdict(list)
    for name, at, kw, kwh in session.execute(
        select(MeterSampleRow.meter, MeterSampleRow.at, MeterSampleRow.kw, MeterSampleRow.kwh)
        .where(
            MeterSampleRow.meter.in_(names),
            MeterSampleRow.error == "",
            MeterSampleRow.at >= start - MAX_GAP,
            MeterSampleRow.at <= start + HOUR + MAX_GAP,
        )
        .order_by(MeterSampleRow.at)
    ):
        value = kw if kw is not None else kwh
        if value is not None:
            found[name].append(Point(utc(at), float(value)))
    return found


def _row(found: HourPue, now: datetime) -> FacilityHourRow:
    stored = asdict(found) | {"missing": list(found.missing)}  # a JSON list, as stored
    return FacilityHourRow(**stored, written_at=now)


def _final(session: Session, names: Sequence[str], end: datetime) -> bool:
    """Every meter has a good sample past `end`: the hour's figures are final."""
    past = session.scalar(
        select(func.count(func.distinct(MeterSampleRow.meter))).where(
            MeterSampleRow.meter.in_(names), MeterSampleRow.error == "", MeterSampleRow.at >= end
        )
    )
    return (past or 0) >= len(set(names))


def close_hours(session: Session, meters: Sequence[Meter], now: datetime) -> int:
    """Write the hours that are over since the last one written (from the first sample on);
    returns how many. Gaps are written as such."""
    if not meters:
        return 0
    names = [m[0] for m in meters]
    last = session.scalar(select(func.max(FacilityHourRow.hour)))
    if last is not None:
        hour = utc(last) + HOUR
    else:
        first = session.scalar(select(func.min(MeterSampleRow.at)))
        if first is None:
            return 0
        hour = hour_floor(utc(first))
    hour = max(hour, hour_floor(now - BACKLOG))
    written = 0
    while hour + HOUR <= now:
        end = hour + HOUR
        if now < end + MAX_GAP and not _final(session, names, end):
            break
        session.add(_row(model.hour_pue(hour, meters, _samples(session, names, hour)), now))
        written += 1
        hour = end
    return written


def prune(session: Session, now: datetime) -> int:
    """Delete the samples older than KEEP."""
    done = session.execute(delete(MeterSampleRow).where(MeterSampleRow.at < now - KEEP))
    return int(getattr(done, "rowcount", 0) or 0)


def any_meter(session: Session) -> bool:
    """Whether the facility meters ever said anything (else no record asks for their PUE)."""
    return session.scalar(select(MeterSampleRow.id).limit(1)) is not None


def latest_kw(session: Session, since: datetime) -> dict[str, tuple[str, float]]:
    """Each meter's last good kW reading since `since`: meter -> (its role, kW); a meter with
    none (counters only, or errors) is absent."""
    latest: dict[str, tuple[str, float]] = {}
    for name, role, kw in session.execute(
        select(MeterSampleRow.meter, MeterSampleRow.role, MeterSampleRow.kw)
        .where(MeterSampleRow.at >= since, MeterSampleRow.error == "")
        .where(MeterSampleRow.kw.is_not(None))
        .order_by(MeterSampleRow.at)
    ):
        if kw is not None:  # the query keeps none; the column is nullable for counters
            latest[name] = (role, float(kw))  # the last one of each meter wins
    return latest


def pue_of_hour(session: Session, at: datetime) -> float | None:
    """The measured PUE of the clock hour holding `at`: its closed row's, else computed from
    the samples in now (meters as the samples name them); None: a gap, or no meters."""
    hour = hour_floor(at)
    row = session.get(FacilityHourRow, hour)
    if row is not None:
        return row.pue
    kinds: dict[str, tuple[str, str]] = {}
    for name, role, kwh in session.execute(
        select(MeterSampleRow.meter, MeterSampleRow.role, func.max(MeterSampleRow.kwh))
        .where(MeterSampleRow.at >= hour - MAX_GAP, MeterSampleRow.at <= hour + HOUR + MAX_GAP)
        .group_by(MeterSampleRow.meter, MeterSampleRow.role)
    ):
        kinds[name] = (role, "energy" if kwh is not None else "power")
    if not kinds:
        return None
    listed = [(n, r, m) for n, (r, m) in sorted(kinds.items())]
    return model.hour_pue(hour, listed, _samples(session, list(kinds), hour)).pue


def _meter_status(session: Session, names: Sequence[tuple[str, str]]) -> list[MeterStatus]:
    found = []
    for name, role in names:
        good = session.execute(
            select(MeterSampleRow.at, MeterSampleRow.kw, MeterSampleRow.kwh)
            .where(MeterSampleRow.meter == name, MeterSampleRow.error == "")
            .order_by(MeterSampleRow.at.desc())
            .limit(1)
        ).first()
        bad = session.execute(
            select(MeterSampleRow.at, MeterSampleRow.error)
            .where(MeterSampleRow.meter == name, MeterSampleRow.error != "")
            .order_by(MeterSampleRow.at.desc())
            .limit(1)
        ).first()
        failing = bad is not None and (good is None or bad[0] > good[0])
        found.append(
            MeterStatus(
                name=name,
                role=role,
                kw=good[1] if good else None,
                kwh=good[2] if good else None,
                read_at=utc(good[0]) if good else None,
                error=bad[1] if failing and bad else "",
                error_at=utc(bad[0]) if failing and bad else None,
            )
        )
    return found


def _hour_view(row: FacilityHourRow, configured: Callable[[datetime], float]) -> FacilityHour:
    hour = utc(row.hour)
    return from_row(FacilityHour, row, hour=hour, configured_pue=configured(hour))


def _hours_between(session: Session, start: datetime, end: datetime) -> list[FacilityHourRow]:
    return list(
        session.scalars(
            select(FacilityHourRow)
            .where(FacilityHourRow.hour >= start, FacilityHourRow.hour < end)
            .order_by(FacilityHourRow.hour.desc())
        )
    )


def _measured(rows: Iterable[FacilityHourRow]) -> tuple[float | None, int, int]:
    """The measured PUE of the measured hours (facility kWh / IT kWh), and how many hours were
    measured and how many were gaps."""
    facility = it = 0.0
    good = gaps = 0
    for row in rows:
        if row.pue is None or row.facility_kw is None or row.it_kw is None:
            gaps += 1
            continue
        good += 1
        facility += row.facility_kw
        it += row.it_kw
    return (facility / it if it > 0 else None), good, gaps


def status(
    session: Session,
    who: Principal,
    meters: Sequence[tuple[str, str]],
    now: datetime,
    hours: int,
    configured: Callable[[datetime], float],
) -> Facility:
    """The last `hours` closed hours (newest first) and each configured meter now; Forbidden
    for anyone but a center admin (the plant is the center's, not a tenant's)."""
    if not who.is_admin:
        raise Forbidden("the facility meters are for the center's admins")
    end = hour_floor(now)
    rows = _hours_between(session, end - hours * HOUR, end)
    pue, good, gaps = _measured(rows)
    return Facility(
        hours_asked=hours,
        meters=_meter_status(session, meters),
        hours=[_hour_view(r, configured) for r in rows],
        measured_pue=pue,
        configured_pue=configured(now),
        measured_hours=good,
        gap_hours=gaps,
    )


def summary(session: Session, start: datetime, end: datetime) -> tuple[float | None, int, int]:
    """Over the closed hours in [start, end): the measured PUE of the measured hours, how many
    were measured, how many were gaps (the monthly report's)."""
    return _measured(_hours_between(session, start, end))


class Collector:
    """The Prometheus gauges of the facility meters: each meter's last power reading (W) or
    counter (kWh), and the PUE of the last closed hour, measured (absent when it was a gap)
    beside the configured."""

    def __init__(
        self,
        session: Session,
        meters: Sequence[tuple[str, str]],
        configured: Callable[[datetime], float],
        now: datetime,
    ) -> None:
        self.session, self.meters, self.configured, self.now = session, meters, configured, now

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        if not self.meters:
            return
        power = GaugeMetricFamily(
            "aicc_facility_meter_watts",
            "A facility meter's last power reading (W), by meter and role (utility, it, cooling).",
            labels=["meter", "role"],
        )
        energy = GaugeMetricFamily(
            "aicc_facility_meter_energy_kwh",
            "A facility meter's last energy counter reading (kWh), by meter and role.",
            labels=["meter", "role"],
        )
        for meter in _meter_status(self.session, self.meters):
            if meter.kw is not None:
                power.add_metric([meter.name, meter.role], meter.kw * 1000)
            if meter.kwh is not None:
                energy.add_metric([meter.name, meter.role], meter.kwh)
        yield power
        yield energy
        last = self.session.scalars(
            select(FacilityHourRow).order_by(FacilityHourRow.hour.desc()).limit(1)
        ).first()
        pue = GaugeMetricFamily(
            "aicc_facility_pue",
            "PUE of the last closed clock hour: measured by the facility meters (absent when "
            "that hour was a gap) and as configured.",
            labels=["method"],
        )
        if last is not None and last.pue is not None:
            pue.add_metric(["measured"], last.pue)
        hour = utc(last.hour) if last is not None else hour_floor(self.now) - HOUR
        pue.add_metric(["configured"], self.configured(hour))
        yield pue
