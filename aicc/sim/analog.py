"""An analog-ensemble carbon forecast from the profile's own past (issue 38 point 5): `aicc sim
green --forecast analog` (or `analog:W`).

What it is: `seasonal` (aicc.sim.green: the day's and the week's shape, the current hour
observed) plus `W` times the mean error `seasonal` made at past origins like the current one.
`scenarios` draws those error paths: origins at the same hour of day whose whole path of the
needed leads (up to `CAP_H`) is known by `now`, the `NEIGHBOURS` nearest the current hour in
how far the hour stands from its usual level (the same hour over the last week) and how far the
last day's level stands from the last week's. So a spell (a windy night, a still week) carries
into the next hours and days as it did the times the past was like this, fading as it faded
then; `W` (0 is `seasonal`, 1 the analogs' mean path) weighs that against the shape.

Why not more than a point forecast: the paths were first drawn to value waiting as an option
(hold a job the plan starts now while the expected cost of the best later start, between the
paths' mean and their own minima, is lower). Replayed job by job over the 2020 years without
capacity, every such hold cut less than the plan on the point forecast, in Germany and Great
Britain alike, and most for the long jobs that hold the saving (BENCHMARKS.md, "Green from
history alone"): what the point forecast lacked was the spell's persistence, not option value.

No peeking: the forecast issued at `now` reads `carbon[: now + 1]` and nothing after it
(tests/sim/test_green_analog.py). No I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aicc.sim.forecast import MIN_HISTORY, shape

NEIGHBOURS = 20  # paths drawn
CAP_H = 168  # leads the paths cover; beyond, the point forecast
WEIGHT = 0.5  # the share of the analogs' mean error added to `seasonal`


def point(y: np.ndarray, origins: np.ndarray, hours: int) -> np.ndarray:
    """`seasonal` (aicc.sim.green) issued at each origin (rows) for leads 0..hours-1, lead 0
    observed, reading only `y[: origin + 1]`."""
    leads = np.arange(hours)
    parts = shape(y, origins, leads)
    out: np.ndarray = 0.5 * parts["weekly"] + 0.5 * parts["weekday"]
    out[:, 0] = y[origins]
    return out


def _state(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """What an origin is like: the hour against its usual level (the same hour over the last
    week), the last day's mean against the last week's; from `y[: origin + 1]`."""
    usual = shape(y, origins, np.zeros(1, dtype=np.int64))["weekly"][:, 0]
    csum = np.concatenate([[0.0], np.cumsum(y)])
    day = (csum[origins + 1] - csum[origins - 23]) / 24
    week = (csum[origins + 1] - csum[origins - 167]) / 168
    out: np.ndarray = np.stack([y[origins] - usual, day - week], axis=1)
    return out


def scenarios(
    carbon: np.ndarray, now: int, hours: int, neighbours: int = NEIGHBOURS, cap: int = CAP_H
) -> np.ndarray:
    """Paths of the next `hours` hours from `now` (rows; lead 0 the current hour), `seasonal`
    plus the analogs' errors up to `cap` leads and `seasonal` alone beyond; one row (`seasonal`)
    when the past holds no analog."""
    y = np.asarray(carbon[: now + 1], dtype=float)  # nothing after `now` is read
    base = point(y, np.array([now]), hours)[0] if now >= MIN_HISTORY else np.full(hours, y[now])
    reach = min(hours, cap)
    last = now - reach + 1  # an origin's path must be known to its last lead
    first = MIN_HISTORY + (now - MIN_HISTORY) % 24
    origins = np.arange(first, last + 1, 24)
    if now < MIN_HISTORY or not len(origins):
        return base[None, :]
    errors = y[origins[:, None] + np.arange(reach)[None, :]] - point(y, origins, reach)
    state = _state(y, origins)
    scale = state.std(axis=0) + 1e-9
    distance = (((state - _state(y, np.array([now]))) / scale) ** 2).sum(axis=1)
    nearest = np.argsort(distance, kind="stable")[:neighbours]
    out = np.repeat(base[None, :], len(nearest), axis=0)
    out[:, :reach] += errors[nearest]
    result: np.ndarray = np.maximum(out, 0.0)
    return result


def forecast(weight: float = WEIGHT) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """The `analog:W` forecast: `seasonal` plus `weight` times the analogs' mean error at each
    lead (`scenarios`' mean path; `weight` 0 is `seasonal`, 1 the mean path itself). Called as
    the others, `(carbon, now, hours)`; reads `carbon[: now + 1]` only."""

    def predict(carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
        paths = scenarios(carbon, now, hours)
        y = np.asarray(carbon[: now + 1], dtype=float)
        base = point(y, np.array([now]), hours)[0] if now >= MIN_HISTORY else paths[0]
        out: np.ndarray = np.maximum(base + weight * (paths.mean(axis=0) - base), 0.0)
        out[0] = y[now]  # observed
        return out

    return predict
