"""A carbon forecast learned from the profile's own past (issue 38 point 5): `aicc sim green
--forecast learned`.

Why learned, and why this shape: the fixed forecasts of `aicc.sim.green` (`seasonal` and its
parts) see the day's and the week's shape but not how far the current spell (a windy night, a
still week) carries into the next days, which is what moves the long jobs that hold most of
the clairvoyant saving. This one keeps `seasonal`'s shape and learns the correction: a gradient
boosted tree model (LightGBM) predicts, for each lead k, the truth at hour now + k minus the
shape's value there, from what is known at `now`: the lead, the shape's parts (`weekly`,
`weekday`, the same hour the last day), the current hour's distance from its shape, the last
day's level against the last week's, the last day's change. One model over every lead
("direct"): no forecast is fed back into the next.

It is fitted on a trailing window (`TRAIN_H` hours of forecast origins, each with the leads of
`LEADS`) and refitted at most once a day (`REFIT_H`; the sim re-plans hourly, so the fitted
model is cached, keyed by the fit hour and the data it saw); between fits the current hour's
features still come from the newest observations. The correction counts in full up to six
hours ahead and fades to nothing at twelve (`FADE`), chosen on the 2020 German profile among
fades of 6-12, 24-48 and 72 h: past a few hours the model has little skill (its error a day
ahead is barely below the shape's), and every longer fade cut less carbon there, since the
long jobs' moves by days compare the near hours with the far ones (BENCHMARKS.md, "Green from
history alone"). With too little past to learn from (`MIN_ROWS`), it is `seasonal`.

No peeking: the forecast issued at `now` reads `carbon[: now + 1]` and nothing after it, so it
is the same whatever the later hours hold (tests/sim/test_green_forecast.py proves it). No I/O:
fitting a model in memory; LightGBM is imported on the first fit (the `green` extra).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

LEADS = np.array([1, 2, 3, 4, 6, 8, 10, 12, 15, 18, 21, 24, 30, 36, 42, 48, 54, 60, 66, 72])
MAX_LEAD = 72  # the longest lead learned; further ones use it (where FADE lets them count)
FADE = (6, 12)  # the model's correction in full up to the first lead, none from the second
TRAIN_H = 42 * 24  # forecast origins in the trailing window fitted on: six weeks
ORIGIN_STEP = 2  # every other hour of that window is an origin (half the rows, no loss seen)
REFIT_H = 24  # a new model at most once a day
MIN_HISTORY = 336  # the features look back two weeks (`weekday`)
MIN_ROWS = 400  # fewer training rows than this: `seasonal` instead
CACHE = 8  # fitted models kept (several windows and policies in one run)
PARAMS: dict[str, Any] = {
    "objective": "l1",  # the absolute error: what a MAPE-like loss and the plan care about
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 40,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.9,
    "random_state": 0,
    "n_jobs": 1,
    "verbose": -1,
    "deterministic": True,
}


def shape(y: np.ndarray, origins: np.ndarray, leads: np.ndarray) -> dict[str, np.ndarray]:
    """The parts of the seasonal shape for each origin (rows) and lead (columns), all from
    `y[: origin + 1]`: `weekly` (the same hour over the last 7 days), `weekday` (the same
    weekday's hour over the last 2 weeks) and `day` (the same hour the last day seen), as
    `aicc.sim.green` defines them. Origins must have MIN_HISTORY hours before them."""
    o = origins[:, None]
    k = leads[None, :]
    days = 24 * np.maximum(1, np.ceil(k / 24)).astype(np.int64)
    weekly = np.mean([y[o + k - days - 24 * d] for d in range(7)], axis=0)
    back = 168 * np.maximum(1, np.ceil(k / 168)).astype(np.int64)
    weekday = np.mean([y[o + k - back - 168 * w] for w in range(2)], axis=0)
    day = y[o + k - days]
    return {"weekly": weekly, "weekday": weekday, "day": day}


def features(y: np.ndarray, origins: np.ndarray, leads: np.ndarray) -> tuple[np.ndarray, ...]:
    """(X, base): one row per (origin, lead), flattened origin-major, and the seasonal base the
    model corrects (the mean of `weekly` and `weekday`)."""
    parts = shape(y, origins, leads)
    base = 0.5 * parts["weekly"] + 0.5 * parts["weekday"]
    now = y[origins]
    usual = shape(y, origins, np.zeros(1, dtype=np.int64))["weekly"][:, 0]  # the hour's shape
    last_day = np.mean([y[origins - h] for h in range(24)], axis=0)
    last_week = np.mean([y[origins - h] for h in range(168)], axis=0)
    per_origin = np.stack([now - usual, last_day - last_week, now - y[origins - 24], now], axis=1)
    rows, cols = len(origins), len(leads)
    lead = np.broadcast_to(np.minimum(leads, MAX_LEAD)[None, :], (rows, cols))
    x = np.column_stack(
        [
            lead.ravel(),
            base.ravel(),
            (parts["weekly"] - parts["weekday"]).ravel(),
            (parts["day"] - base).ravel(),
            np.repeat(per_origin, cols, axis=0),
        ]
    )
    return x, base


class Learned:
    """The `learned` forecast: call it as the others, `(carbon, now, hours)`, `now` the current
    (observed) hour's index; the first value is that hour. Deterministic for the same past."""

    def __init__(
        self, train_h: int = TRAIN_H, refit_h: int = REFIT_H, fade: tuple[int, int] = FADE
    ) -> None:
        self.train_h = train_h
        self.refit_h = refit_h
        self.fade = fade
        self._models: OrderedDict[tuple[int, int, bytes], Any] = OrderedDict()

    def __call__(self, carbon: np.ndarray, now: int, hours: int) -> np.ndarray:
        past = np.asarray(carbon[: now + 1], dtype=float)  # nothing after `now` is read
        if now < MIN_HISTORY:  # not two weeks seen: the current hour, held
            return np.full(hours, past[-1])
        model = self._model(past, now - now % self.refit_h)
        out = np.full(hours, past[now])
        if hours > 1:
            leads = np.arange(1, hours)
            x, base = features(past, np.array([now]), leads)
            out[1:] = base[0]
            if model is not None:
                full, gone = self.fade
                weight = np.clip((gone - leads) / max(1, gone - full), 0.0, 1.0)
                out[1:] += weight * model.predict(x)
        result: np.ndarray = np.maximum(out, 0.0)
        return result

    def _model(self, past: np.ndarray, fit_at: int) -> Any:
        """The model fitted at hour `fit_at` on the `train_h` hours of origins before it (their
        targets all at or before `fit_at`), cached; None when there is too little to learn."""
        first = max(MIN_HISTORY, fit_at - self.train_h)
        seen = past[first - MIN_HISTORY : fit_at + 1]
        key = (fit_at, len(seen), seen.tobytes())
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        model = fit(past[: fit_at + 1], first, self.train_h)
        self._models[key] = model
        if len(self._models) > CACHE:
            self._models.popitem(last=False)
        return model


def fit(y: np.ndarray, first: int, train_h: int) -> Any:
    """A LightGBM model of truth minus shape at every lead of LEADS, over the origins from
    `first` whose targets `y` holds (all of `y` is the past); None with under MIN_ROWS rows."""
    end = len(y) - 1
    origins = np.arange(max(first, end - train_h), end, ORIGIN_STEP)
    if not len(origins):
        return None
    x, base = features(y, origins, LEADS)
    targets = origins[:, None] + LEADS[None, :]
    known = (targets <= end).ravel()
    if known.sum() < MIN_ROWS:
        return None
    truth = y[np.minimum(targets, end)]
    residual = (truth - base).ravel()
    import lightgbm

    model = lightgbm.LGBMRegressor(**PARAMS)
    model.fit(x[known], residual[known])
    return model
