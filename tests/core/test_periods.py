"""Billing periods (aicc/core/periods.py): the month after a month, across a year's end."""

from __future__ import annotations

from aicc.core import periods


def test_the_month_after_a_month_turns_the_year_after_december() -> None:
    assert periods.next_month("2026-03") == "2026-04"
    assert periods.next_month("2026-12") == "2027-01"


def test_the_next_month_starts_where_the_month_ends() -> None:
    for month in ("2026-01", "2026-11", "2026-12"):
        _, end = periods.month_bounds(month, "Asia/Shanghai")
        start, _ = periods.month_bounds(periods.next_month(month), "Asia/Shanghai")
        assert start == end
