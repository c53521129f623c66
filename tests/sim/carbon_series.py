"""A carbon series shaped as a grid's, for the forecasts' tests: generated, no data set read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from aicc.core.energy import epoch_hour
from aicc.sim import green, synthetic


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


def replayed(forecast: str) -> dict[str, Any]:
    """`carbon-blind` and `default` with `forecast` over two small windows of `series`: each
    policy's totals (kg, deadline misses)."""
    start = epoch_hour(datetime(2020, 1, 1, tzinfo=UTC))
    carbon = {start + h: float(v) for h, v in enumerate(series(weeks=16, seed=5))}
    config = green.GreenConfig(
        gpus=32, windows=2, days=2, deferrable=0.5, time_limit_s=5, forecast=forecast
    )
    trace = synthetic.trace_jobs(120, gpus=32, load=0.5)
    rows: dict[str, Any] = green.run(trace, carbon, config, policies=("carbon-blind", "default"))[
        "policies"
    ]
    return rows
