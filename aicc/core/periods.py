"""Billing periods in the site's time zone: months, days, and cutting usage at hour boundaries.

Pure: every function takes the times and the zone it works with. Hours are cut in UTC, which is
the same as cutting them in any zone whose offset is a whole number of hours (Asia/Shanghai is
UTC+8); months and days follow the billing zone (docs/contracts.md §1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

HOUR = timedelta(hours=1)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def hour_floor(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


def hour_segments(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut at every whole hour: (segment start, segment end), in order."""
    at = start
    while at < end:
        edge = hour_floor(at) + HOUR
        stop = min(edge, end)
        yield at, stop
        at = stop


FIRST_YEAR, LAST_YEAR = 1970, 9998  # books outside these years are refused, not computed


def parse_month(text: str) -> str:
    """`2026-11` as given, checked; raises ValueError saying what to write."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {text!r} must be written YYYY-MM, e.g. 2026-11")
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        raise ValueError(f"month {text!r} must be within the years {FIRST_YEAR} to {LAST_YEAR}")
    return text.strip()


def check_year(year: int, what: str) -> None:
    """ValueError for a day or instant outside the years books are kept for."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{what} must be within the years {FIRST_YEAR} to {LAST_YEAR}")


def in_books(value: DayOrTime) -> DayOrTime:
    """A validator: the date or instant lies within the years books are kept for."""
    check_year(value.year, "the date")
    return value


DayOrTime = TypeVar("DayOrTime", date, datetime)
BookDate = Annotated[date, AfterValidator(in_books)]


def written_out(value: object) -> object:
    """A validator: a time is written as RFC 3339, never as a bare number of seconds (which
    pydantic would take for a Unix time, where the caller most likely meant something else)."""
    if isinstance(value, int | float) or (
        isinstance(value, str) and ISO_START.match(value) is None
    ):
        raise ValueError("a time in RFC 3339, e.g. 2026-11-01T00:00:00+08:00")
    return value


ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")
BookTime = Annotated[AwareDatetime, BeforeValidator(written_out), AfterValidator(in_books)]


def month_of(at: datetime, zone: str) -> str:
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m")


def day_of(at: datetime, zone: str) -> date:
    return at.astimezone(ZoneInfo(zone)).date()


def month_bounds(month: str, zone: str) -> tuple[datetime, datetime]:
    """The UTC instants where `month` (YYYY-MM) starts and ends in the billing zone."""
    year, number = (int(part) for part in parse_month(month).split("-"))
    tz = ZoneInfo(zone)
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def next_month(month: str) -> str:
    """The month (YYYY-MM) after `month`."""
    year, number = (int(part) for part in month.split("-"))
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def year_bounds(year: int, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    return (
        datetime(year, 1, 1, tzinfo=tz).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC),
    )


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    return start.astimezone(UTC), datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
