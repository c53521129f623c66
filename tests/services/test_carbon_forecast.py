"""The operator's day-ahead carbon forecast (`site.carbon_forecast`): its hours override the
energy profile's in the green planner's horizon, it is read again when the file changes, and a
stale or broken one is ignored with a warning."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aicc.core.energy import parse_profile
from aicc.services.center.power import CarbonForecast, Site

NOW = datetime.now(UTC).replace(minute=10, second=0, microsecond=0)
HOUR0 = NOW.replace(minute=0)
PROFILE = parse_profile(
    {
        "carbon_intensity": {
            "start": f"{HOUR0 - timedelta(days=1):%Y-%m-%dT%H:%M}",
            "values": [800] * 96,
        }
    },
    read=lambda _: "",
)


def write(path: Path, values: dict[int, float], age_h: float = 0.0) -> None:
    rows = [f"{HOUR0 + timedelta(hours=h):%Y-%m-%dT%H:%M}Z,{v}" for h, v in values.items()]
    path.write_text("Time,Carbon Intensity\n" + "\n".join(rows) + "\n")
    stamp = (NOW - timedelta(hours=age_h)).timestamp()
    os.utime(path, (stamp, stamp))


def site(path: Path) -> Site:
    return Site(profile=PROFILE, horizon_h=12, forecast=CarbonForecast(path, timedelta(hours=36)))


def test_the_forecast_overrides_the_profile_where_it_covers_and_is_read_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "forecast.csv"
    write(path, {2: 120.0, 3: 50.0}, age_h=2)
    seen = site(path)
    carbon = seen.carbon(NOW)
    assert carbon[:5] == (800.0, 800.0, 120.0, 50.0, 800.0) and len(carbon) == 12
    state = seen.forecast.state(NOW)[0] if seen.forecast else None
    assert state is not None and state.used and state.hours_ahead == 2
    assert state.age_s == pytest.approx(2 * 3600)
    write(path, {3: 400.0, 4: 420.0, 5: 30.0}, age_h=0)  # the cron job's next run
    assert seen.carbon(NOW)[2:7] == (800.0, 400.0, 420.0, 30.0, 800.0)


def test_a_forecast_alone_covers_what_it_covers(tmp_path: Path) -> None:
    path = tmp_path / "forecast.csv"
    write(path, {0: 300.0, 1: 200.0, 2: 100.0})
    alone = Site(horizon_h=48, forecast=CarbonForecast(path, timedelta(hours=36)))
    assert alone.carbon(NOW) == (300.0, 200.0, 100.0)


def test_a_stale_or_broken_forecast_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "forecast.csv"
    write(path, {3: 50.0}, age_h=40)
    stale = site(path)
    with caplog.at_level(logging.WARNING, logger="aicc.services.center.power"):
        assert stale.carbon(NOW)[3] == 800.0
        stale.carbon(NOW)  # the same file: warned once
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "40.0 h old" in warnings[0], warnings
    caplog.clear()
    path.write_text("Time,Carbon Intensity\n2026-01-01T00:00Z,lots\n")
    with caplog.at_level(logging.WARNING, logger="aicc.services.center.power"):
        assert stale.carbon(NOW)[3] == 800.0
    assert "'lots' is not a number" in caplog.records[0].getMessage()
    state = stale.forecast.state(NOW)[0] if stale.forecast else None
    assert state is not None and not state.used and state.problem
