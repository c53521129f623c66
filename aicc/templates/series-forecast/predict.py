"""Forecasts with a series-forecast model, in the training table's own column names. The input
is one of:

- a one-row table `{"horizon": N}` (or an empty table: the trained horizon): the next N points
  after the training series;
- the future times (the time column) and, if the model uses them, the other columns' future
  values: the forecast at those times;
- a history (times with the value) followed by future times with the value empty: the model
  continues that history instead of the training one.

Out: the future rows with `<target>_forecast`, `<target>_lower` and `<target>_upper` (the
model's interval). A model that learned from other columns forecasts without them when they
are not given for every point up to the last time asked, and says so.

This module also holds the forecasters (the model file is made of its classes), which train.py
imports: it needs numpy only; scikit-learn is imported where trees are fitted."""

from __future__ import annotations

import calendar
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aicc_template
import numpy as np

SHORT_GAP = {"H": 6, "D": 3, "W": 2, "M": 1, "Q": 1, "Y": 1}  # interpolated; longer: cut
STEP = {"H": timedelta(hours=1), "D": timedelta(days=1), "W": timedelta(weeks=1)}
MONTHS = {"M": 1, "Q": 3, "Y": 12}
UNITS = {
    "H": ("hours", "小时"),
    "D": ("days", "天"),
    "W": ("weeks", "周"),
    "M": ("months", "个月"),
    "Q": ("quarters", "个季度"),
    "Y": ("years", "年"),
}
MAX_GBM_ROWS = 20_000
MAX_STEPS = 10_000


@dataclass
class Grid:
    """A regular time grid: period k is `at(k)`; `period(t)` is the inverse (rounded)."""

    freq: str
    origin: datetime
    month_end: bool = False

    def period(self, t: datetime) -> int:
        if self.freq in STEP:
            return round((t - self.origin) / STEP[self.freq])
        months = (t.year - self.origin.year) * 12 + t.month - self.origin.month
        return math.floor(months / MONTHS[self.freq])

    def at(self, k: int) -> datetime:
        if self.freq in STEP:
            return self.origin + k * STEP[self.freq]
        months = self.origin.month - 1 + k * MONTHS[self.freq]
        year, month = self.origin.year + months // 12, months % 12 + 1
        last = calendar.monthrange(year, month)[1]
        day = last if self.month_end else min(self.origin.day, last)
        return self.origin.replace(year=year, month=month, day=day)

    def label(self, t: datetime) -> str:
        """A time as text: with the hour for hourly series, the year alone for years of 1
        January, else the date."""
        if self.freq == "H":
            return f"{t:%Y-%m-%d %H:%M:%S}"
        return f"{t:%Y}" if self.freq == "Y" and (t.month, t.day) == (1, 1) else f"{t:%Y-%m-%d}"


def naive_times(values: Sequence[Any]) -> list[datetime | None]:
    """The column's times (one format for the column), without time zones."""
    return [
        None if t is None else t.replace(tzinfo=None) for t in aicc_template.parse_times(values)
    ]


def numbers(values: Sequence[Any]) -> np.ndarray:
    return np.array([aicc_template.number(v) for v in values], dtype=float)


def interpolate(values: np.ndarray) -> np.ndarray:
    """Missing points drawn on the line between their neighbours (ends: the nearest known)."""
    known = ~np.isnan(values)
    if known.all() or not known.any():
        return values
    where = np.arange(len(values))
    return np.interp(where, where[known], values[known])


def seasonal_naive(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    last = y[-season:]
    return np.array([last[k % season] for k in range(horizon)])


def ets_filter(y: np.ndarray, f: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Holt-Winters' updates through `y` from `state`: the state after the last point. A
    multiplicative season (`f["multiplicative"]`) divides where the additive one subtracts."""
    level, slope = state["level"], state["slope"]
    seasons = list(state["seasons"])
    a, b, g, phi, m = f["alpha"], f["beta"], f["gamma"], f["phi"], f["season"]
    times = bool(f.get("multiplicative")) and m > 1
    for value in y:
        if times:
            s = seasons[-m] or 1e-12
            base = (level + phi * slope) or 1e-12
            new = a * value / s + (1 - a) * (level + phi * slope)
            seasons.append(g * value / base + (1 - g) * s)
        else:
            s = seasons[-m] if m > 1 else 0.0
            new = a * (value - s) + (1 - a) * (level + phi * slope)
            if m > 1:
                seasons.append(g * (value - level - phi * slope) + (1 - g) * s)
        slope = b * (new - level) + (1 - b) * phi * slope
        level = new
    return {"level": level, "slope": slope, "seasons": seasons[-m:] if m > 1 else [0.0]}


def ets_anchor(y: np.ndarray, f: dict[str, Any]) -> dict[str, Any]:
    """The model's smoothing applied to another history: started from its first season (the
    slope, for a model with a trend, from its first two: a slope started at 0 that a slow
    smoothing barely moves would flatten a trend)."""
    m = f["season"]
    width = max(m, 1)
    first = y[:width]
    mean = float(first.mean())
    if f.get("multiplicative") and m > 1 and mean > 0:
        seasons = list(first / mean)
    else:
        seasons = list(first - mean)
    slope = 0.0
    if f.get("trend") and len(y) >= 2 * width:
        slope = float(y[width : 2 * width].mean() - mean) / width
    start = {"level": mean - slope * (width + 1) / 2, "slope": slope, "seasons": seasons}
    return {**f, **ets_filter(y, f, start)}


def ets_forecast(f: dict[str, Any], horizon: int) -> np.ndarray:
    m, phi = f["season"], f["phi"]
    damp = np.cumsum(phi ** np.arange(1, horizon + 1))
    seasons = np.array(f["seasons"])
    trend = f["level"] + damp * f["slope"]
    if m <= 1:
        return np.asarray(trend, dtype=float)
    s = np.array([seasons[k % m] for k in range(horizon)])
    return np.asarray(trend * s if f.get("multiplicative") else trend + s, dtype=float)


def seasonal_drift(y: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated, each further season moved by the last year's change of the
    season's mean (for a positive series, by its ratio, so a season that grows with the level
    grows with it): the seasonal naive forecast with a linear drift."""
    if season <= 1 or len(y) < 2 * season:
        return np.full(horizon, y[-1]) if season <= 1 else seasonal_naive(y, horizon, season)
    last, before = y[-season:], y[-2 * season : -season]
    ahead = np.arange(horizon) // season + 1
    base = np.array([last[k % season] for k in range(horizon)])
    if last.min() > 0 and before.min() > 0:
        return np.asarray(base * (1 + ahead * (last.mean() / before.mean() - 1)), dtype=float)
    return np.asarray(base + ahead * (last.mean() - before.mean()), dtype=float)


def theta_alpha(y: np.ndarray, season: int, multiplicative: bool = False) -> float:
    """The Theta method's smoothing: the one of a grid with the least one-step squared error
    of simple exponential smoothing on the deseasonalized series."""
    x, _ = deseason(y, season, multiplicative)
    best, alpha = math.inf, 0.5
    for a in np.linspace(0.05, 1.0, 20):
        level, sse = x[0], 0.0
        for value in x[1:]:
            sse += (value - level) ** 2
            level = a * value + (1 - a) * level
        if sse < best:
            best, alpha = sse, float(a)
    return alpha


def deseason(
    y: np.ndarray, season: int, multiplicative: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`y` less its seasonal indices (classical decomposition: the mean gap to the centred
    moving average at each position in the season, from the first point of `y`; with
    `multiplicative`, the mean ratio, `y` divided by it), and the indices; none when the
    season is 1 or `y` holds fewer than two seasons."""
    if season <= 1 or len(y) < 2 * season:
        return y, np.zeros(1)
    width = season + 1 if season % 2 == 0 else season
    weights = np.ones(width)
    if season % 2 == 0:
        weights[[0, -1]] = 0.5
    trend = np.convolve(y, weights / weights.sum(), mode="valid")
    half = width // 2
    at = y[half : half + len(trend)]
    positions = (np.arange(len(trend)) + half) % season
    if multiplicative:
        ratio = at / trend
        index = np.array([ratio[positions == k].mean() for k in range(season)])
        index /= index.mean()
        return y / index[np.arange(len(y)) % season], index
    gap = at - trend
    index = np.array([gap[positions == k].mean() for k in range(season)])
    index -= index.mean()
    return y - index[np.arange(len(y)) % season], index


def theta_forecast(y: np.ndarray, h: int, f: dict[str, Any]) -> np.ndarray:
    """The Theta method (Assimakopoulos and Nikolopoulos, 2000, as Hyndman and Billah write
    it): simple exponential smoothing plus half the linear trend's slope, on the
    deseasonalized series, the season put back (multiplied, for a series above 0, as the
    method's classical decomposition does)."""
    m, a, times = f["season"], f["alpha"], bool(f.get("multiplicative"))
    x, index = deseason(y, m, times)
    level = x[0]
    for value in x[1:]:
        level = a * value + (1 - a) * level
    n = len(x)
    slope = float(np.polyfit(np.arange(n), x, 1)[0]) if n > 2 else 0.0
    steps = np.arange(1, h + 1)
    out = level + 0.5 * slope * (steps - 1 + 1 / a - (1 - a) ** n / a)
    if len(index) > 1:
        put = index[(n + steps - 1) % m]
        out = out * put if times else out + put
    return np.asarray(out, dtype=float)


@dataclass
class Boosted:
    """Gradient-boosted trees forecasting one step at a time on the series' own lags, rolling
    means and calendar: every value is taken relative to the mean of the last season (the
    trees learn the shape, the anchor carries the level, so a trend does not leave them)."""

    freq: str
    season: int
    lags: list[int]
    regressors: list[str]
    model: Any = None

    @property
    def window(self) -> int:
        return max(self.season, 1)

    @property
    def reach(self) -> int:
        return max(max(self.lags), 4 * self.window)

    def features(
        self, y: np.ndarray, at: np.ndarray, times: list[datetime], regs: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows for positions `at` of `y` (everything before each is known), and the anchors."""
        c = np.concatenate([[0.0], np.cumsum(y)])

        def mean(width: int) -> np.ndarray:
            return (c[at] - c[at - width]) / width

        anchor = mean(self.window)
        cols = [y[at - k] - anchor for k in self.lags]
        cols += [mean(w) - anchor for w in (2 * self.window, 4 * self.window)]
        cols += [np.array([_calendar(times[i], self.freq) for i in at]).T.reshape(-1, len(at))]
        cols += [regs[r][at] for r in self.regressors]
        x = np.vstack([np.atleast_2d(col) for col in cols]).T
        return x, anchor

    def fit(self, y: np.ndarray, times: list[datetime], regs: dict[str, np.ndarray]) -> Boosted:
        from sklearn.ensemble import HistGradientBoostingRegressor

        at = np.arange(self.reach, len(y))[-MAX_GBM_ROWS:]
        x, anchor = self.features(y, at, times, regs)
        self.model = HistGradientBoostingRegressor(
            learning_rate=0.05,
            max_iter=300,
            max_leaf_nodes=15,
            min_samples_leaf=max(3, min(20, len(at) // 25)),
            l2_regularization=1.0,
            random_state=0,
        ).fit(x, y[at] - anchor)
        return self

    def forecast(
        self, y: np.ndarray, horizon: int, times: list[datetime], regs: dict[str, np.ndarray]
    ) -> np.ndarray:
        """The next `horizon` points after `y`; `times` and `regs` reach that far."""
        ext = np.concatenate([y, np.zeros(horizon)])
        for k in range(len(y), len(y) + horizon):
            x, anchor = self.features(ext, np.array([k]), times, regs)
            ext[k] = anchor[0] + self.model.predict(x)[0]
        return ext[len(y) :]


def _calendar(t: datetime, freq: str) -> list[float]:
    if freq == "H":
        return [t.hour, t.weekday(), t.month]
    if freq == "D":
        return [t.weekday(), t.day, t.month, t.timetuple().tm_yday]
    if freq == "W":
        return [t.isocalendar()[1], t.month]
    if freq == "M":
        return [t.month]
    if freq == "Q":
        return [(t.month - 1) // 3]
    return [0.0]


@dataclass
class Forecaster:
    """A fitted forecaster (`name`: which; the model file holds the one chosen, fitted on the
    whole series), with what it needs: Holt-Winters' parameters and state, the trees (with and
    without the regressors). `floor`: 0 for a series never below 0 (no forecast goes under)."""

    name: str
    season: int
    floor: float | None = None
    ets: dict[str, Any] | None = None
    gbm: Boosted | None = None
    plain: Boosted | None = None  # the trees without regressors, for calls without them
    theta: dict[str, Any] | None = None  # the Theta method's smoothing and season


def predict_with(
    name: str, f: Forecaster, y: np.ndarray, h: int, times: list[datetime], regs: Any
) -> np.ndarray:
    """The next `h` points after `y` by the forecaster `name` of `f`; `times` and `regs` (the
    regressors, for the trees that use them) reach that far."""
    if name == "seasonal_naive":
        out = seasonal_naive(y, h, f.season)
    elif name == "seasonal_drift":
        out = seasonal_drift(y, h, f.season)
    elif name == "naive":
        out = np.full(h, y[-1])
    elif name == "mean":
        out = np.full(h, y.mean())
    elif name == "theta":
        assert f.theta is not None
        out = theta_forecast(y, h, f.theta)
    elif name == "ets":
        assert f.ets is not None
        out = ets_forecast(f.ets, h)
    elif name in ("gbm", "gbm_regressors"):
        model = f.gbm if name == "gbm_regressors" else f.plain
        assert model is not None
        out = model.forecast(y, h, times, regs)
    elif name == "combined":
        parts = ("ets", "theta", "seasonal_drift")
        out = np.mean([predict_with(k, f, y, h, times, regs) for k in parts], axis=0)
    else:  # mean_ets_gbm
        out = (
            predict_with("ets", f, y, h, times, regs) + predict_with("gbm", f, y, h, times, regs)
        ) / 2
    return out if f.floor is None else np.maximum(out, f.floor)


def widen(half: Sequence[float], horizon: int) -> np.ndarray:
    """The half-widths for `horizon` steps: beyond the trained ones, growing as sqrt(step)."""
    last = len(half)
    more = [half[-1] * math.sqrt((k + 1) / last) for k in range(last, horizon)]
    return np.array(list(half)[:horizon] + more)


# --- predicting -----------------------------------------------------------------------------


def read(path: Path) -> dict[str, list[Any]]:
    """The input table; an empty file is an empty table."""
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        return {}
    return aicc_template.read_table(path)


def history(
    saved: dict[str, Any], times: list[Any], values: np.ndarray
) -> tuple[np.ndarray, int, bool]:
    """The series to forecast from, up to the last time given a value, and the period after
    it: the training series continued (or corrected) by the given history where they meet,
    else the given history alone. The flag says whether the training series was continued
    past its end (so exponential smoothing goes on from its state)."""
    grid, end, y = saved["grid"], saved["end"], saved["y"]
    periods = np.array([grid.period(t) for t in times])
    last = int(periods.max())
    joined = end - len(y) <= periods.min() <= end
    begin = end - len(y) if joined else int(periods.min())
    series = np.full(last + 1 - begin, np.nan)
    if joined:
        series[: min(len(y), len(series))] = y[: len(series)]
    sums = np.zeros(len(series))
    counts = np.zeros(len(series))
    inside = periods >= begin
    np.add.at(sums, periods[inside] - begin, values[inside])
    np.add.at(counts, periods[inside] - begin, 1)
    given = counts > 0
    series[given] = sums[given] / counts[given]
    gap, run = 0, 0
    for missing in np.isnan(series):
        run = run + 1 if missing else 0
        gap = max(gap, run)
    unit = UNITS[saved["freq"]][0]
    if gap > saved["gap"]:
        raise SystemExit(
            f"the history has a gap of {gap} {unit}; give it without gaps longer than "
            f"{saved['gap']} (or continuing from the training data's end, "
            f"{grid.label(grid.at(end - 1))})"
        )
    series = interpolate(series)
    need = max(2 * saved["season"], saved["reach"] + 1)
    if len(series) < need:
        raise SystemExit(f"give at least {need} {unit} of history ({len(series)} given)")
    return series, begin + len(series), joined and last + 1 >= end


def main() -> None:
    import joblib
    from threadpoolctl import threadpool_limits

    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    grid, time_col, target = saved["grid"], saved["time"], saved["target"]
    model = saved["forecaster"]
    table = read(args.input)
    rows = len(next(iter(table.values()))) if table else 0
    y, end = saved["y"], saved["end"]
    out: dict[str, list[Any]] = {}
    if all(v is None or str(v).strip() == "" for v in table.get(time_col, [])):
        if table and "horizon" not in table:
            raise SystemExit(
                f"give {time_col} (the times to forecast), or a history of {time_col} and "
                f"{target} followed by the times to forecast, or one row {{'horizon': N}}"
            )
        asked = [aicc_template.number(v) for v in table.get("horizon", [])]
        asked = [v for v in asked if v == v]
        steps = int(asked[0]) if asked else saved["horizon"]
        if steps < 1 or steps != (asked[0] if asked else steps):
            raise SystemExit(f"horizon must be a whole number of at least 1, not {asked[0]}")
        future = list(range(steps))
    else:
        times = naive_times(table[time_col])
        bad = [v for v, t in zip(table[time_col], times, strict=True) if t is None]
        if bad:
            raise SystemExit(f"{time_col}: {bad[0]!r} is not a date or time")
        values = numbers(table[target]) if target in table else np.full(rows, np.nan)
        known = ~np.isnan(values)
        if known.any():
            at = [t for t, k in zip(times, known, strict=True) if k]
            y, end, joined = history(saved, at, values[known])
            if model.ets is not None:
                ets = model.ets
                fresh = y[len(saved["y"]) :]
                model.ets = {**ets, **ets_filter(fresh, ets, ets)} if joined else ets_anchor(y, ets)
        keep = [i for i in range(rows) if not known[i]]
        if not keep:
            raise SystemExit(f"every row has a {target}: leave it empty on the rows to forecast")
        future = [grid.period(times[i]) - end for i in keep]
        if min(future) < 0:
            first = grid.label(grid.at(end))
            raise SystemExit(
                f"{time_col}: {table[time_col][keep[future.index(min(future))]]} is not after "
                f"the history; the first time to forecast is {first}"
            )
        out = {c: [table[c][i] for i in keep] for c in table if c != target}
    steps = max(future) + 1
    if steps > MAX_STEPS:
        raise SystemExit(f"at most {MAX_STEPS} points ahead, not {steps}")
    span = [grid.at(end - len(y) + i) for i in range(len(y) + steps)]
    name, regs = model.name, {}
    if saved["regressors"]:
        given = {c: numbers(out.get(c, [None] * len(future))) for c in saved["regressors"]}
        for c, v in given.items():
            ahead = np.full(steps, np.nan)
            ahead[future] = v
            regs[c] = np.concatenate([np.full(len(y), np.nan), ahead])
        if any(np.isnan(v[len(y) :]).any() for v in regs.values()):
            name = saved["fallback"]
            print(
                f"{', '.join(saved['regressors'])} not given for every time up to the last one "
                f"asked: forecast without them ({name})",
                file=sys.stderr,
            )
    import sklearn.ensemble  # noqa: F401  (its OpenMP loaded: a limit only reaches loaded pools)

    threadpool_limits(1)
    forecast = predict_with(name, model, y, steps, span, regs)[future]
    half = widen(saved["half_widths"], steps)[future]
    if time_col not in out:
        out = {time_col: [grid.label(span[len(y) + k]) for k in future]}
    out[f"{target}_forecast"] = [round(float(v), 4) for v in forecast]
    lower = forecast - half if model.floor is None else np.maximum(forecast - half, model.floor)
    out[f"{target}_lower"] = [round(float(v), 4) for v in lower]
    out[f"{target}_upper"] = [round(float(v), 4) for v in forecast + half]
    aicc_template.write_output(args.output, out)
    print(f"{len(future)} points forecast from {grid.label(grid.at(end - 1))} -> {args.output}")


if __name__ == "__main__":
    main()
