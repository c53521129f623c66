"""The `analog` carbon forecast (issue 38 point 5): it reads only the past, it is `seasonal` at
weight 0, and where the weather persists it carries the current spell ahead better than
`seasonal` does."""

from __future__ import annotations

import numpy as np
import pytest
from carbon_series import replayed, series

from aicc.sim import analog, green
from aicc.sim.forecast import MIN_HISTORY


def test_the_forecast_at_now_is_the_same_whatever_comes_after() -> None:
    y = series()
    now = len(y) - 200
    other = y.copy()
    other[now + 1 :] = np.random.default_rng(1).uniform(0, 1000, len(y) - now - 1)
    assert np.array_equal(analog.scenarios(y, now, 96), analog.scenarios(other, now, 96))
    first = analog.forecast()(y, now, 96)
    assert np.array_equal(first, analog.forecast()(other, now, 96))
    assert first[0] == y[now]  # the current hour is observed
    assert analog.scenarios(y, now, 96).shape == (analog.NEIGHBOURS, 96)


def test_weight_zero_is_seasonal_and_too_little_past_is_no_error() -> None:
    y = series()
    now = len(y) - 100
    assert np.allclose(green.forecaster("analog:0")(y, now, 72), green.seasonal(y, now, 72))
    assert len(analog.forecast()(y, MIN_HISTORY - 10, 30)) == 30
    assert len(analog.forecast()(y, MIN_HISTORY + 3, 30)) == 30  # no analog yet: seasonal


def test_it_carries_a_spell_ahead_better_than_seasonal() -> None:
    y = series(weeks=14, seed=3)
    predict = analog.forecast(1.0)
    errors: dict[str, list[float]] = {"analog": [], "seasonal": []}
    for now in range(len(y) - 21 * 24, len(y) - 72, 13):
        truth = y[now + 1 : now + 13]
        errors["analog"].append(float(np.mean(np.abs(predict(y, now, 13)[1:] - truth))))
        errors["seasonal"].append(float(np.mean(np.abs(green.seasonal(y, now, 13)[1:] - truth))))
    mae = {name: float(np.mean(e)) for name, e in errors.items()}
    assert mae["analog"] < 0.9 * mae["seasonal"], mae


def test_the_sim_names_it() -> None:
    assert green.analog_weight("analog") == analog.WEIGHT
    assert green.analog_weight("analog:0.25") == 0.25
    for wrong in ("analog:2", "analog:x", "analogue"):
        with pytest.raises(ValueError, match="analog"):
            green.forecaster(wrong)


def test_the_default_policy_with_it_cuts_carbon_without_a_miss() -> None:
    rows = replayed("analog")
    assert rows["default"]["carbon_kg"] < rows["carbon-blind"]["carbon_kg"]
    assert rows["default"]["deadline_misses"] <= rows["carbon-blind"]["deadline_misses"]
