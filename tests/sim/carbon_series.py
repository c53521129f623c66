"""A carbon series shaped as a grid's, for the forecasts' tests: generated, no data set read."""

from __future__ import annotations

import numpy as np


def series(weeks: int = 10, seed: int = 0) -> np.ndarray:
    """gCO2/kWh per hour: a day-night swing, cleaner weekends, and an AR(1) "weather" that
    persists for a day or two, as wind does."""
    rng = np.random.default_rng(seed)
    hours = np.arange(weeks * 168)
    day = 120 * np.cos(2 * np.pi * (hours % 24 - 13) / 24)
    weekend = np.where(hours % 168 >= 120, -80.0, 0.0)
    weather = np.zeros(len(hours))
    for h in range(1, len(hours)):
        weather[h] = 0.97 * weather[h - 1] + rng.normal(0, 12)
    out: np.ndarray = np.maximum(400 + day + weekend + weather, 20.0)
    return out
