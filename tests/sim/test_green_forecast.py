"""The `learned` carbon forecast (issue 38 point 5): it reads only the past, and on a series with
a daily and a weekly shape and weather-like spells it beats the same hour yesterday."""

from __future__ import annotations

import numpy as np
import pytest
from carbon_series import replayed, series

from aicc.sim import green
from aicc.sim.forecast import MIN_HISTORY, Learned

pytest.importorskip("lightgbm")


def test_the_forecast_at_now_is_the_same_whatever_comes_after() -> None:
    y = series()
    now = len(y) - 200
    other = y.copy()
    other[now + 1 :] = np.random.default_rng(1).uniform(0, 1000, len(y) - now - 1)
    first = Learned()(y, now, 96)
    second = Learned()(other, now, 96)
    assert np.array_equal(first, second)
    assert first[0] == y[now]  # the current hour is observed
    assert not np.array_equal(first[1:], y[now + 1 : now + 96])  # and the rest not copied


def test_a_refit_each_day_and_the_hours_between_use_the_newest_hour() -> None:
    y = series()
    learned = Learned()
    day = len(y) - 24 * 5
    at_midnight = learned(y, day, 48)
    later = learned(y, day + 5, 48)
    assert len(learned._models) == 1  # one fit serves the day's hours
    assert later[0] == y[day + 5] and at_midnight[0] == y[day]
    learned(y, day + 24, 48)
    assert len(learned._models) == 2


def test_learned_beats_the_same_hour_yesterday_on_a_daily_and_weekly_shape() -> None:
    y = series(weeks=12, seed=3)
    learned = Learned()
    origins = range(len(y) - 21 * 24, len(y) - 72, 13)
    errors: dict[str, list[float]] = {"learned": [], "persistence": [], "seasonal": []}
    for now in origins:
        truth = y[now + 1 : now + 49]
        for name, predict in (
            ("learned", learned),
            ("persistence", green.persistence),
            ("seasonal", green.seasonal),
        ):
            errors[name].append(float(np.mean(np.abs(predict(y, now, 49)[1:] - truth) / truth)))
    mape = {name: float(np.mean(e)) for name, e in errors.items()}
    assert mape["learned"] < 0.85 * mape["persistence"], mape
    assert mape["learned"] < mape["seasonal"], mape


def test_too_little_past_is_no_error() -> None:
    y = series(weeks=3)
    assert len(Learned()(y, MIN_HISTORY - 10, 30)) == 30  # the current hour, held
    out = Learned()(y, MIN_HISTORY + 30, 30)  # too few rows to fit: the seasonal shape
    assert np.allclose(out, green.seasonal(y, MIN_HISTORY + 30, 30))


def test_the_sim_names_it() -> None:
    predict = green.forecaster("learned")
    assert isinstance(predict, Learned)
    assert predict is not green.forecaster("learned")  # a fresh cache per run
    with pytest.raises(ValueError, match="learned"):
        green.forecaster("learnt")


def test_the_default_policy_with_it_cuts_carbon_without_a_miss() -> None:
    rows = replayed("learned")
    assert rows["default"]["carbon_kg"] < rows["carbon-blind"]["carbon_kg"]
    assert rows["default"]["deadline_misses"] <= rows["carbon-blind"]["deadline_misses"]
