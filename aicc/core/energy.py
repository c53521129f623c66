"""A site's energy profile: PUE, grid carbon intensity (gCO₂/kWh) and electricity price
(per kWh) by clock hour. Pure: the YAML is parsed by the caller and the CSV files it names are
read through the `read` function the caller passes (services/billing/energy.py does both).

Each of `pue`, `carbon_intensity` and `price` is a series, written one of four ways:

    pue: 1.25                                   # a constant
    pue: {monthly: [1.35, 1.33, ..., 1.36]}     # twelve values, January first (local months)
    carbon_intensity: {start: "2026-07-01T00:00", values: [530, 512, ...]}   # one per hour
    carbon_intensity: {csv: ger_ci.csv, column: Carbon Intensity}            # time,value rows

Times without an offset are local times of the profile's `timezone` (default UTC). CSV rows
may come every 15 or 30 minutes: an hour's value is the mean of the rows within it; an hour
with no row between two that have one holds the value before it. Outside a series' hours a
lookup answers None (the caller falls back to the site's constant), unless the profile says
`repeat: yearly`: then the same local month, day and hour of the year most of the series lies
in answers (29 February takes the 28th), so a year of data serves any year.

Errors are `ProfileError`s that name the field (`carbon_intensity.values[3]`) or the file
and line (`ger_ci.csv line 17`), and say what would do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOUR_S = 3600
MAX_GAP_H = 24  # hours a series may hold its last value across a gap in its rows


class ProfileError(ValueError):
    """An energy profile that cannot be used; the message says where and what to fix."""


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    unit: str


PUE = Bounds(1.0, 5.0, "facility power / IT power")
CARBON = Bounds(0.0, 3000.0, "gCO2/kWh")
PRICE = Bounds(0.0, 100.0, "currency units per kWh")
FIELDS = {"pue": PUE, "carbon_intensity": CARBON, "price": PRICE}
TOP_KEYS = {"name", "source", "timezone", "repeat", "currency", *FIELDS}


def epoch_hour(at: datetime) -> int:
    """The clock hour holding `at`, as whole hours since 1970-01-01T00:00Z."""
    return math.floor(at.timestamp() / HOUR_S)


@dataclass(frozen=True)
class Series:
    """Values by clock hour: a constant, twelve monthly values, or hourly values."""

    zone: ZoneInfo
    constant: float | None = None
    monthly: tuple[float, ...] = ()
    hourly: Mapping[int, float] = field(default_factory=dict)  # epoch hour -> value
    repeat_yearly: bool = False

    @cached_property
    def first(self) -> int | None:
        return min(self.hourly) if self.hourly else None

    @cached_property
    def last(self) -> int | None:
        return max(self.hourly) if self.hourly else None

    def at(self, when: datetime) -> float | None:
        """The value of the clock hour holding `when` (aware), or None outside the series."""
        if self.constant is not None:
            return self.constant
        if self.monthly:
            return self.monthly[when.astimezone(self.zone).month - 1]
        found = self.hourly.get(epoch_hour(when))
        if found is not None or not self.repeat_yearly or self.first is None:
            return found
        assert self.last is not None
        middle = (self.first + self.last) // 2  # the year most of the series lies in
        base = datetime.fromtimestamp(middle * HOUR_S, UTC).astimezone(self.zone).year
        local = when.astimezone(self.zone)
        day = 28 if (local.month, local.day) == (2, 29) else local.day
        for year in (base, base - 1, base + 1):  # a series of a year ± a few days reaches both
            shifted = local.replace(year=year, day=day, tzinfo=None).replace(tzinfo=self.zone)
            hit = self.hourly.get(epoch_hour(shifted))
            if hit is not None:
                return hit
        return None

    def describe(self) -> str:
        if self.constant is not None:
            return f"{self.constant:g}"
        if self.monthly:
            return "monthly " + ", ".join(f"{v:g}" for v in self.monthly)
        if self.first is None or self.last is None:
            return "empty"
        first = datetime.fromtimestamp(self.first * HOUR_S, UTC)
        last = datetime.fromtimestamp(self.last * HOUR_S, UTC)
        return f"{len(self.hourly)} hours, {first:%Y-%m-%dT%H:%MZ} to {last:%Y-%m-%dT%H:%MZ}"


@dataclass(frozen=True)
class EnergyProfile:
    """A site's PUE, carbon intensity and electricity price by hour; any may be absent."""

    name: str = ""
    source: str = ""
    zone: str = "UTC"
    currency: str = "CNY"
    pue: Series | None = None
    carbon_intensity: Series | None = None
    price: Series | None = None

    def pue_at(self, when: datetime) -> float | None:
        return None if self.pue is None else self.pue.at(when)

    def carbon_at(self, when: datetime) -> float | None:
        """gCO₂ per kWh in the hour holding `when`."""
        return None if self.carbon_intensity is None else self.carbon_intensity.at(when)

    def price_at(self, when: datetime) -> float | None:
        return None if self.price is None else self.price.at(when)

    def carbon_hours(self, start: datetime, hours: int) -> tuple[float, ...]:
        """gCO₂/kWh of the clock hours from the one holding `start`, up to `hours` of them,
        ending before the first hour the profile does not know (the green planner's forecast)."""
        found: list[float] = []
        for hour in range(hours):
            value = self.carbon_at(start + timedelta(hours=hour))
            if value is None:
                break
            found.append(value)
        return tuple(found)


def parse_profile(doc: object, *, read: Callable[[str], str]) -> EnergyProfile:
    """The profile a parsed YAML document describes. `read(path)` gives the text of a CSV the
    document names (relative paths are the caller's to resolve); it may raise ProfileError."""
    if not isinstance(doc, Mapping):
        raise ProfileError("an energy profile is a mapping with pue, carbon_intensity or price")
    unknown = sorted(str(k) for k in doc if k not in TOP_KEYS)
    if unknown:
        raise ProfileError(
            f"{unknown[0]}: not a field of an energy profile; the fields are "
            + ", ".join(sorted(TOP_KEYS))
        )
    if not any(k in doc for k in FIELDS):
        raise ProfileError("an energy profile gives at least one of pue, carbon_intensity, price")
    zone_name = _text(doc, "timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(
            f"timezone: unknown time zone {zone_name!r}; e.g. UTC or Asia/Shanghai"
        ) from None
    repeat = _text(doc, "repeat", "none")
    if repeat not in ("none", "yearly"):
        raise ProfileError(f"repeat: {repeat!r} is not none or yearly")
    series = {
        key: _series(key, doc[key], bounds, zone, repeat == "yearly", read)
        for key, bounds in FIELDS.items()
        if doc.get(key) is not None
    }
    return EnergyProfile(
        name=_text(doc, "name", ""),
        source=_text(doc, "source", ""),
        zone=zone_name,
        currency=_text(doc, "currency", "CNY"),
        pue=series.get("pue"),
        carbon_intensity=series.get("carbon_intensity"),
        price=series.get("price"),
    )


def _text(doc: Mapping[object, object], key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise ProfileError(f"{key}: a string, not {value!r}")
    return value


def _number(where: str, value: object, bounds: Bounds) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}: a number ({bounds.unit}), not {value!r}")
    number = float(value)
    if not bounds.low <= number <= bounds.high:
        raise ProfileError(
            f"{where}: {number:g} is outside {bounds.low:g} to {bounds.high:g} ({bounds.unit})"
        )
    return number


def _series(
    key: str,
    value: object,
    bounds: Bounds,
    zone: ZoneInfo,
    repeat: bool,
    read: Callable[[str], str],
) -> Series:
    if not isinstance(value, Mapping):
        return Series(zone, constant=_number(key, value, bounds))
    ways = [w for w in ("monthly", "values", "csv") if w in value]
    allowed = {"monthly"} | {"start", "values"} | {"csv", "column"}
    extra = sorted(str(k) for k in value if k not in allowed)
    if extra:
        raise ProfileError(
            f"{key}.{extra[0]}: not a field of a series; give a number, "
            "monthly: [12 values], start: and values:, or csv: (and column:)"
        )
    if len(ways) != 1:
        raise ProfileError(
            f"{key}: give exactly one of monthly:, values: (with start:) or csv: "
            f"({'none' if not ways else ', '.join(ways)} given)"
        )
    if ways == ["monthly"]:
        months = value["monthly"]
        if not isinstance(months, list) or len(months) != 12:
            raise ProfileError(f"{key}.monthly: a list of 12 numbers, January first")
        values = tuple(_number(f"{key}.monthly[{i}]", v, bounds) for i, v in enumerate(months))
        return Series(zone, monthly=values)
    if ways == ["values"]:
        if "start" not in value:
            raise ProfileError(
                f"{key}.start: the local time of the first value, e.g. 2026-07-01T00:00"
            )
        start = _time(f"{key}.start", str(value["start"]), zone)
        if start.minute or start.second or start.microsecond:
            raise ProfileError(f"{key}.start: {value['start']} is not a whole hour")
        raw = value["values"]
        if not isinstance(raw, list) or not raw:
            raise ProfileError(f"{key}.values: a list of numbers, one per hour from start")
        first = epoch_hour(start)
        hourly = {first + i: _number(f"{key}.values[{i}]", v, bounds) for i, v in enumerate(raw)}
        return Series(zone, hourly=hourly, repeat_yearly=repeat)
    path = value["csv"]
    if not isinstance(path, str) or not path:
        raise ProfileError(f"{key}.csv: the path of a CSV file (time,value rows)")
    column = value.get("column")
    if column is not None and not isinstance(column, str):
        raise ProfileError(f"{key}.column: a column name of {path}")
    hourly = parse_csv(read(path), name=path, column=column, bounds=bounds, zone=zone)
    return Series(zone, hourly=hourly, repeat_yearly=repeat)


def _time(where: str, text: str, zone: ZoneInfo) -> datetime:
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ProfileError(
            f"{where}: {text!r} is not a time; write 2020-01-01 00:00:00 or 2020-01-01T00:00+01:00"
        ) from None
    return at.replace(tzinfo=zone) if at.tzinfo is None else at


def parse_csv(
    text: str, *, name: str, column: str | None, bounds: Bounds, zone: ZoneInfo
) -> dict[int, float]:
    """Hourly values from `time,value` rows: rows within an hour averaged; an hour missing
    between two rows (up to MAX_GAP_H) holds the value before it; rows in any order."""
    lines = text.splitlines()
    if not lines:
        raise ProfileError(
            f"{name}: empty; the first line names the columns (Time,Carbon Intensity)"
        )
    header = [h.strip() for h in lines[0].split(",")]
    if len(header) < 2:
        raise ProfileError(f"{name} line 1: a header of at least two columns, time first")
    if column is None:
        index = 1
    elif column in header[1:]:
        index = header.index(column, 1)
    else:
        raise ProfileError(
            f"{name} line 1: no column {column!r}; the columns are {', '.join(header)}"
        )
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) <= index:
            raise ProfileError(f"{name} line {number}: {len(cells)} columns, {index + 1} expected")
        at = _time(f"{name} line {number}", cells[0], zone)
        try:
            value = float(cells[index])
        except ValueError:
            raise ProfileError(
                f"{name} line {number}: {cells[index].strip()!r} is not a number"
            ) from None
        if math.isnan(value):
            raise ProfileError(f"{name} line {number}: no value (NaN); fill or drop the row")
        value = _number(f"{name} line {number}", value, bounds)
        hour = epoch_hour(at)
        sums[hour] = sums.get(hour, 0.0) + value
        counts[hour] = counts.get(hour, 0) + 1
    if not sums:
        raise ProfileError(f"{name}: no rows after the header")
    hourly = {hour: sums[hour] / counts[hour] for hour in sorted(sums)}
    held: dict[int, float] = {}
    hours = list(hourly)
    for before, after in pairwise(hours):
        if 1 < after - before <= MAX_GAP_H:
            for gap in range(before + 1, after):
                held[gap] = hourly[before]
    return hourly | held


# --- measured node power shared by a job (issue 62.3) ----------------------------------------

# How a record's kWh was found, written on the record: measured by the CPU's RAPL counters or
# the node's BMC and shared by the job's CPU and memory, the accelerators' model with NVML's
# measured busy rate, or the model at `site.assumed_utilization` (an upper bound).
METHODS = ("rapl", "bmc", "nvml", "estimated")


def node_share(cpu_milli: int, memory_mib: int, node_cpu_milli: int, node_memory_mib: int) -> float:
    """The part of a node's power a replica draws: the mean of its share of the node's CPU and
    of its memory (each capped at 1), so a job holding all cores and no memory, or all memory
    and no core, draws half. A node without a figure for one counts the other alone."""
    parts = [
        min(1.0, max(0, held) / total)
        for held, total in ((cpu_milli, node_cpu_milli), (memory_mib, node_memory_mib))
        if total > 0
    ]
    return sum(parts) / len(parts) if parts else 0.0


def counter_delta(before: int, after: int, max_range: int) -> int:
    """Energy (µJ) between two readings of a RAPL counter that wraps to 0 past `max_range`
    (`max_energy_range_uj`): one wrap at most between readings a minute apart."""
    if after >= before:
        return after - before
    return max(0, max_range - before) + after


def shared_w(watts: float, share: float) -> float:
    """A replica's watts of a node's measured power (`share` from `node_share`): the meter's
    CPU-job energy and the power cap's estimate of a CPU job both take it (scheduler/power.py)."""
    return max(0.0, watts) * max(0.0, share)


def shared_kwh(watts: float, share: float, hours: float, pue: float) -> float:
    """kWh of a replica's share of a node's measured mean power over `hours`, PUE included."""
    return shared_w(watts, share) * max(0.0, hours) * pue / 1000
