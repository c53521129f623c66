"""A node's power curve (core/power_curve.py): buckets bounded to ~300 over any window, the
summary's energy counting only measured time, the limit carried, and the text sparkline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aicc.core.power_curve import MAX_BUCKETS, Sample, curve, spark, width

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)


def every(seconds: int, count: int, watts: float, start: datetime = T0) -> list[Sample]:
    return [Sample(start + timedelta(seconds=seconds * n), watts) for n in range(count)]


def test_a_day_of_5_s_samples_is_300_buckets_with_min_mean_and_max() -> None:
    made = [
        Sample(T0 + timedelta(seconds=5 * n), 300.0 + (n % 2) * 100, limit_w=500.0)
        for n in range(17_280)
    ]
    found = curve(made, since=T0, until=T0 + timedelta(days=1))
    assert len(found.buckets) == MAX_BUCKETS and found.width == timedelta(seconds=288)
    first = found.buckets[0]
    assert (first.min_w, first.avg_w, first.max_w) == (300.0, 350.0, 400.0)
    assert first.samples == 288 // 5 + 1 and first.limit_w == 500.0
    assert found.samples == 17_280 and found.max_w == 400.0 and found.limit_w == 500.0
    # 350 W for the 24 h less one 5 s step the samples span
    assert found.kwh == pytest.approx(0.35 * (24 - 5 / 3600))
    assert found.avg_w == pytest.approx(350.0)


def test_a_gap_counts_no_energy_and_samples_outside_are_left_out() -> None:
    before = Sample(T0 - timedelta(minutes=1), 9_999.0)
    morning = every(60, 61, 1000.0)  # an hour at 1 kW
    evening = every(60, 61, 1000.0, start=T0 + timedelta(hours=10))
    found = curve([before, *morning, *evening], since=T0, until=T0 + timedelta(hours=12))
    assert found.kwh == pytest.approx(2.0)  # the ten hours between are not measured
    assert found.max_w == 1000.0 and found.samples == 122
    assert found.now_at == evening[-1].at and found.now_w == 1000.0
    assert all(b.samples for b in found.buckets)  # only buckets that hold a sample


def test_rare_samples_are_joined_and_no_sample_is_an_empty_curve() -> None:
    hourly = every(3600, 4, 500.0)  # a BMC read once an hour: three median spacings join them
    found = curve(hourly, since=T0, until=T0 + timedelta(hours=4))
    assert found.kwh == pytest.approx(1.5)
    empty = curve([], since=T0, until=T0 + timedelta(hours=1))
    assert empty.buckets == () and empty.now_w is None and empty.avg_w is None
    assert empty.kwh == 0.0
    assert width(T0, T0 + timedelta(seconds=10)) == timedelta(seconds=1)


def test_the_sparkline_scales_between_least_and_most() -> None:
    assert spark([1.0, 2.0, 3.0, None, 8.0]) == "▁▂▃ █"
    assert spark([5.0, 5.0]) == "▄▄"
    assert len(spark([float(n) for n in range(300)], width=40)) <= 40
    assert spark([]) == "" and spark([None]) == ""
