"""Energy profiles, pure: the four ways to write a series, CSV rows averaged to hours, yearly
repetition, and a bad profile refused with the field or line to fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from aicc.core.energy import ProfileError, parse_profile

CSV = """Time,Carbon Intensity
2020-06-01 10:00:00,400
2020-06-01 10:30:00,300
2020-06-01 11:00:00,200
2020-06-01 11:30:00,100
2020-06-01 14:00:00,50
"""


def _files(**texts: str) -> Callable[[str], str]:
    def read(name: str) -> str:
        return texts[name]

    return read


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_csv_rows_every_half_hour_are_averaged_to_clock_hours() -> None:
    profile = parse_profile({"carbon_intensity": {"csv": "gb.csv"}}, read=_files(**{"gb.csv": CSV}))
    assert profile.carbon_at(at(2020, 6, 1, 10, 59)) == 350.0
    assert profile.carbon_at(at(2020, 6, 1, 11, 0)) == 150.0
    assert profile.carbon_at(at(2020, 6, 1, 12, 15)) == 150.0  # a gap holds the hour before
    assert profile.carbon_at(at(2020, 6, 1, 14, 0)) == 50.0
    assert profile.carbon_at(at(2020, 6, 1, 15, 0)) is None  # past its end: the site's constant
    assert profile.pue_at(at(2020, 6, 1, 10)) is None


def test_local_times_follow_the_profile_zone_and_pue_may_be_monthly() -> None:
    doc = {
        "timezone": "Asia/Shanghai",
        "pue": {"monthly": [1.4, 1.4, 1.35, 1.3, 1.25, 1.2, 1.2, 1.2, 1.25, 1.3, 1.35, 1.4]},
        "carbon_intensity": {"start": "2026-07-01T08:00", "values": [500, 480, 470]},
        "price": 0.65,
    }
    profile = parse_profile(doc, read=_files())
    assert profile.carbon_at(at(2026, 7, 1, 0, 30)) == 500.0  # 08:30 in Shanghai
    assert profile.carbon_at(at(2026, 7, 1, 2, 0)) == 470.0
    assert profile.carbon_at(at(2026, 7, 1, 3, 0)) is None
    assert profile.pue_at(at(2026, 6, 30, 16, 0)) == 1.2  # 1 July local: July's
    assert profile.pue_at(at(2026, 1, 31, 16, 0)) == 1.4  # 1 February local
    assert profile.price_at(at(2030, 1, 1)) == 0.65


def test_a_yearly_profile_answers_any_year_with_the_same_local_hour() -> None:
    doc = {"repeat": "yearly", "carbon_intensity": {"csv": "gb.csv"}}
    profile = parse_profile(doc, read=_files(**{"gb.csv": CSV}))
    assert profile.carbon_at(at(2026, 6, 1, 10, 20)) == 350.0
    assert profile.carbon_at(at(2026, 6, 2, 10, 20)) is None  # a day the data does not have


@pytest.mark.parametrize(
    ("doc", "files", "says"),
    [
        ({"pue": 0.9}, {}, "pue: 0.9 is outside 1 to 5"),
        ({"pue": {"monthly": [1.2] * 11}}, {}, "pue.monthly: a list of 12 numbers"),
        (
            {"carbon_intensity": {"start": "2026-07-01T00:00", "values": [400, "high"]}},
            {},
            "carbon_intensity.values[1]: a number (gCO2/kWh), not 'high'",
        ),
        ({"carbon_intensity": {"values": [400]}}, {}, "carbon_intensity.start:"),
        (
            {"carbon_intensity": {"csv": "x.csv", "monthly": [1] * 12}},
            {},
            "give exactly one of monthly:, values: (with start:) or csv:",
        ),
        ({"carbon": 400}, {}, "carbon: not a field of an energy profile"),
        ({"timezone": "Mars/Olympus", "pue": 1.2}, {}, "timezone: unknown time zone"),
        ({"name": "x"}, {}, "at least one of pue, carbon_intensity, price"),
        (
            {"carbon_intensity": {"csv": "x.csv"}},
            {"x.csv": "Time,Carbon Intensity\n2020-01-01 00:00:00,300\n2020-01-01 00:30,n/a\n"},
            "x.csv line 3: 'n/a' is not a number",
        ),
        (
            {"carbon_intensity": {"csv": "x.csv"}},
            {"x.csv": "Time,Carbon Intensity\nyesterday,300\n"},
            "x.csv line 2: 'yesterday' is not a time",
        ),
        (
            {"carbon_intensity": {"csv": "x.csv", "column": "gCO2"}},
            {"x.csv": "Time,Carbon Intensity\n"},
            "x.csv line 1: no column 'gCO2'; the columns are Time, Carbon Intensity",
        ),
    ],
)
def test_a_bad_profile_names_what_to_fix(
    doc: dict[str, object], files: dict[str, str], says: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(doc, read=_files(**files))
    assert says in str(caught.value)


def test_carbon_hours_run_from_the_hour_holding_start_until_the_profile_ends() -> None:
    doc = {"carbon_intensity": {"start": "2026-07-01T00:00", "values": [500, 400, 300]}}
    profile = parse_profile(doc, read=lambda path: "")
    start = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)
    assert profile.carbon_hours(start, 2) == (500.0, 400.0)
    assert profile.carbon_hours(start, 48) == (500.0, 400.0, 300.0)
    assert parse_profile({"pue": 1.2}, read=lambda path: "").carbon_hours(start, 5) == ()
