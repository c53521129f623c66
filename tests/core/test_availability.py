"""The SLA's interval arithmetic (core/availability.py): minutes touched count whole, overlapping
outages count once, announced maintenance is neither leased nor lost, a lease starting mid-month
is measured from its start, and the credit table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aicc.core.availability import Outage, ceil_minute, credit_pct, floor_minute, merge, tally

T0 = datetime(2026, 10, 1, tzinfo=UTC)
MONTH = (T0, datetime(2026, 11, 1, tzinfo=UTC))  # 31 days: 44,640 minutes
DAY = 44_640


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def down(start: float, end: float | None, *keys: tuple[str, int], why: str = "down") -> Outage:
    return Outage(at(start), at(end) if end is not None else None, frozenset(keys), why)


def test_a_part_of_a_minute_counts_as_the_whole_minute() -> None:
    assert floor_minute(at(10.5)) == floor_minute(at(10))
    assert ceil_minute(at(10.5)) == ceil_minute(at(11)) == ceil_minute(at(10)) + 1
    # 10:30 s to 12:10 s touches minutes 10, 11 and 12
    result = tally(MONTH, [("a", 0)], [down(10.5, 12 + 1 / 6, ("a", 0))], {})
    assert (result.leased_minutes, result.lost_minutes) == (DAY, 3)
    assert result.pct == Decimal("99.9932")  # (44640 - 3) / 44640, rounded down


def test_overlapping_outages_of_one_device_count_once_and_devices_apart() -> None:
    outages = [
        down(0, 60, ("a", 0), ("a", 1)),  # the node down an hour
        down(30, 90, ("a", 0), why="unhealthy"),  # device 0 also unhealthy, overlapping
        down(100, 110, ("b", 0)),
    ]
    result = tally(MONTH, [("a", 0), ("a", 1), ("b", 0)], outages, {})
    assert result.leased_minutes == 3 * DAY
    assert result.lost_minutes == 90 + 60 + 10
    assert merge([(5, 7), (0, 3), (3, 4), (9, 9)]) == [(0, 4), (5, 7)]


def test_announced_maintenance_is_neither_leased_nor_lost_but_other_nodes_count() -> None:
    outages = [down(0, 120, ("a", 0)), down(0, 120, ("b", 0))]
    excluded = {"a": [(at(60), at(180))]}  # a's window covers half its outage and more
    result = tally(MONTH, [("a", 0), ("b", 0)], outages, excluded)
    assert result.excluded_minutes == 120
    assert result.leased_minutes == 2 * DAY - 120
    assert result.lost_minutes == 60 + 120


def test_a_lease_starting_mid_month_and_an_ongoing_outage() -> None:
    start = at(DAY / 2)  # the lease starts halfway through the month
    window = (start, MONTH[1])
    outages = [down(0, DAY / 2 + 30, ("a", 0)), down(DAY - 15, None, ("a", 0))]
    result = tally(window, [("a", 0)], outages, {})
    assert result.leased_minutes == DAY // 2
    assert result.lost_minutes == 30 + 15  # before the lease: not counted; still out: to the end
    assert tally((start, start), [("a", 0)], outages, {}).pct == Decimal("100.0000")


def test_the_credit_table() -> None:
    assert credit_pct(Decimal("99.95"), 99.9) == 0
    assert credit_pct(Decimal("99.8999"), 99.9) == 10
    assert credit_pct(Decimal("98.9"), 99.9) == 30
    assert credit_pct(Decimal("94.99"), 99.9) == 100
    assert credit_pct(Decimal("99.5"), 99.0) == 0  # a lower tier promises less
    own = (("tier", Decimal(5)), ("99.0", Decimal(25)))  # a center's `leases.credits`
    assert credit_pct(Decimal("98"), 99.9, own) == 25
