"""Time series forecasting for any table with a time column and a number: the frequency is the
data's (hourly, daily, weekly, monthly, quarterly, yearly: detected, never assumed), the season
too (the frequency's calendar seasons and the autocorrelation's strongest peak, each tried in
the backtests: sunspots are yearly with an ~11-year cycle), and forecasters compete in
rolling-origin backtests: the seasonal naive forecast (the last season repeated), the same with
the last year's change as a drift, the naive one and the mean (for a series that is noise around
a level), the Theta method, Holt-Winters exponential smoothing (statsmodels, the variant chosen
by AICc: its season additive or multiplicative, its trend none, damped or linear), the mean of
Holt-Winters, Theta and the drift (a combination is rarely far behind its best part), and
gradient-boosted trees on lags, rolling means and the calendar (scikit-learn's
HistGradientBoostingRegressor, forecasting step by step on its own forecasts, mlforecast's
recipe), with the table's other numeric columns as regressors when they help; and the mean of
Holt-Winters and the trees. The best by mean backtest MASE is measured on the last `horizon`
points, held out, and refit on the whole series. MASE (metrics.json, the report) is scaled by
the seasonal naive forecast of the frequency's season (1 for yearly data), whichever season is
chosen, as the baseline repeats that season. Intervals come from the backtests' errors at each
step ahead (split conformal, scaled per step).

The forecasters themselves (what the model file holds, and how it forecasts) are in predict.py,
shipped with the model; this module chooses, measures and fits them.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aicc_template
import numpy as np
from predict import (
    MONTHS,
    SHORT_GAP,
    UNITS,
    Boosted,
    Forecaster,
    Grid,
    ets_filter,
    interpolate,
    naive_times,
    numbers,
    predict_with,
    seasonal_naive,
    theta_alpha,
)

HORIZON = {"H": 48, "D": 14, "W": 8, "M": 12, "Q": 4, "Y": 3}
SEASON = {"H": 24, "D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}
CALENDAR = {"H": (24, 168), "D": (7, 365), "W": (52,), "M": (12,), "Q": (4,), "Y": (1,)}
MAX_SEASON = 1000  # the season hyperparameter's maximum
NAIVE = {
    "en": "repeating the last season (seasonal naive)",
    "zh-CN": "重复上一个周期（季节性朴素预测）",
}
MAX_ETS_POINTS = 3_000
# Up to this many points every Holt-Winters fit chooses its variant afresh (quick fits are
# cheap there, and a variant chosen on the first backtest's few seasons is a poor guess for
# the whole series); above, the first fit's variant is kept and warm-started.
AFRESH_POINTS = 1_000


@dataclass
class Series:
    """The target on its grid from period `start` on, and the regressors on the same points."""

    grid: Grid
    start: int
    y: np.ndarray
    regressors: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # a regressor's type: number, boolean

    def times(self, first: int = 0, count: int | None = None) -> list[datetime]:
        count = len(self.y) - first if count is None else count
        return [self.grid.at(self.start + first + i) for i in range(count)]


def regular(
    times: Sequence[datetime],
    y: np.ndarray,
    extra: dict[str, np.ndarray],
    freq: str,
    longest: int,
) -> Series:
    """The rows on the data's own grid: sorted; rows at the same period averaged; gaps of up
    to `longest` points interpolated; after a longer gap, only the part after it is kept
    (made-up seasons teach nothing). `notes` counts what was done."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    origin = times[order[0]]
    month_end = freq in MONTHS and all(
        t.day == calendar.monthrange(t.year, t.month)[1] for t in times
    )
    grid = Grid(freq, origin, month_end)
    periods = np.array([grid.period(times[i]) for i in order])
    size = int(periods[-1]) + 1
    columns = {"": y, **extra}
    sums = {k: np.zeros(size) for k in columns}
    counts = {k: np.zeros(size) for k in columns}
    for k, values in columns.items():
        v = values[order]
        ok = ~np.isnan(v)
        np.add.at(sums[k], periods[ok], v[ok])
        np.add.at(counts[k], periods[ok], 1)
    mean = {k: np.where(counts[k] > 0, sums[k] / np.maximum(counts[k], 1), np.nan) for k in sums}
    target = mean.pop("")
    missing = np.isnan(target)
    # Runs of missing points: short ones are filled, the series restarts after a long one.
    start, run = 0, 0
    for i in range(size):
        run = run + 1 if missing[i] else 0
        if run > longest:
            start = i + 1
    kept = target[start:]
    filled = int(np.isnan(kept).sum())
    notes = {
        "rows_read": len(times),
        "duplicates": len(times) - len(np.unique(periods)),
        "filled": filled,
        "cut": start,
    }
    regs = {k: interpolate(v[start:]) for k, v in mean.items()}
    return Series(grid, start, interpolate(kept), regs, notes)


def gap_filled(freq: str, season: int) -> int:
    """The longest gap interpolated: a quarter season, and at least 6 hours, 3 days, 2 weeks
    or 1 month, quarter or year."""
    return max(SHORT_GAP[freq], season // 4)


def ets_fit(y: np.ndarray, season: int, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Holt-Winters (statsmodels), its season additive or (a series above 0) multiplicative, its
    trend none, damped or linear, its initial state estimated with its smoothing: the variant
    that `previous` (a fit of an earlier part of the same series) has, warm-started from its
    parameters (a series of more than `AFRESH_POINTS`), else the one of lowest AICc among quick
    fits (one likelihood: the same data, untransformed). A multiplicative season is what a
    season growing with the level needs (Hyndman et al., 2008). Returns its parameters and final
    state (what `ets_forecast` and `ets_filter` need)."""
    y = y[-max(MAX_ETS_POINTS, 3 * season) :]
    seasonal_ok = season > 1 and len(y) >= 2 * season + 2
    kinds: tuple[str | None, ...] = (None,)
    if seasonal_ok:
        kinds = (None, "add", "mul") if y.min() > 0 else (None, "add")
    # an earlier fit too short for a season (or now with a point at or below 0 for its
    # multiplicative one) chooses nothing: the variant is chosen afresh
    if previous and previous.get("seasonal_ok", seasonal_ok) != seasonal_ok:
        previous = None
    if previous and _kind(previous) not in kinds:
        previous = None
    if previous and len(y) > AFRESH_POINTS:
        trend, kind = previous["trend"], _kind(previous)
    else:
        options = [(t, k) for t in (None, "damped", "linear") for k in kinds]
        quick = {c: _hw(y, season, *c, quick=True) for c in options}
        trend, kind = min(options, key=lambda c: _aicc(quick[c]))
    same = previous and _kind(previous) == kind and previous["trend"] == trend
    warm = previous["start"] if same else None
    model = _hw(y, season, trend, kind, start=warm)
    p = model.params
    fitted = {
        "trend": trend,
        "seasonal": kind is not None,
        "multiplicative": kind == "mul",
        "alpha": float(p["smoothing_level"]),
        "beta": float(p["smoothing_trend"]) if trend else 0.0,
        "gamma": float(p["smoothing_seasonal"]) if kind else 0.0,
        "phi": float(p["damping_trend"]) if trend == "damped" else 1.0,
        "season": season if kind else 1,
        "start": _optimized(model),
        "seasonal_ok": seasonal_ok,
    }
    fitted.update(ets_filter(y, fitted, _ets_start(p, fitted)))
    return fitted


def _kind(f: dict[str, Any]) -> str | None:
    """A fit's season: None, "add" or "mul"."""
    return ("mul" if f.get("multiplicative") else "add") if f["seasonal"] else None


def _hw(
    y: np.ndarray,
    season: int,
    trend: str | None,
    seasonal: str | None,
    *,
    quick: bool = False,
    start: list[float] | None = None,
) -> Any:
    """One Holt-Winters fit (`trend`: None, "damped" or "linear"); `quick`: the initial state
    from the first seasons (heuristic), only the smoothing estimated; `start`: the optimizer
    starts there, no grid search."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    init = "heuristic" if quick and len(y) >= max(10, 2 * season + 2) else "estimated"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ExponentialSmoothing(
            y,
            trend="add" if trend else None,
            damped_trend=trend == "damped",
            seasonal=seasonal,
            seasonal_periods=season if seasonal else None,
            initialization_method=init,
        )
        if start is not None:
            try:
                return model.fit(start_params=np.array(start), use_brute=False)
            except ValueError:
                pass
        return model.fit()


def _aicc(model: Any) -> float:
    return float(model.aicc) if np.isfinite(model.aicc) else float(model.sse)


def _optimized(model: Any) -> list[float] | None:
    """The fitted values of the parameters the optimizer moved (its start for the next fit)."""
    try:
        table = model.params_formatted
        return [float(v) for v in table.loc[table["optimized"], "param"]]
    except (AttributeError, KeyError):
        return None


def _ets_start(p: Any, f: dict[str, Any]) -> dict[str, Any]:
    seasons = list(np.atleast_1d(p["initial_seasons"])) if f["seasonal"] else [0.0]
    trend = float(p["initial_trend"]) if f["trend"] else 0.0
    return {"level": float(p["initial_level"]), "slope": trend, "seasons": seasons}


def lags_for(freq: str, season: int, length: int) -> list[int]:
    """1 to a season, the next seasons, and a week (hourly) or a year (daily) back when the
    history has room for it."""
    lags = set(range(1, max(season, 3) + 1)) | {season * k for k in (2, 3, 4)}
    lags |= {168} if freq == "H" else {364} if freq == "D" else set()
    return sorted(k for k in lags if k * 3 <= length)


# --- choosing, measuring, refitting --------------------------------------------------------


def fit_all(
    names: Sequence[str], s: Series, end: int, season: int, ets_prev: dict[str, Any] | None
) -> Forecaster:
    """The candidates `names` fitted on the first `end` points."""
    y, times = s.y[:end], s.times()
    out = Forecaster(name="", season=season, floor=0.0 if y.min() >= 0 else None)
    if {"theta", "combined"} & set(names):
        mult = bool(y.min() > 0)
        alpha = theta_alpha(y, season, mult)
        out.theta = {"alpha": alpha, "season": season, "multiplicative": mult}
    if {"ets", "mean_ets_gbm", "combined"} & set(names):
        out.ets = ets_fit(y, season, ets_prev)
    if {"gbm", "mean_ets_gbm"} & set(names):
        out.plain = Boosted(s.grid.freq, season, lags_for(s.grid.freq, season, end), []).fit(
            y, times, s.regressors
        )
    if "gbm_regressors" in names:
        regs = sorted(s.regressors)
        out.gbm = Boosted(s.grid.freq, season, lags_for(s.grid.freq, season, end), regs).fit(
            y, times, s.regressors
        )
    return out


def windows(origin: int, horizon: int, end: int) -> range:
    """The starts of the forecasts a model fitted up to `origin` is measured on: from there
    until the next backtest's origin, a quarter horizon apart, none reaching past `end` (the
    held-out tail). More windows than backtests: more errors to choose and size intervals by,
    for no more fits."""
    return range(origin, min(origin + horizon, end - horizon + 1), max(1, horizon // 4))


def moved_to(f: Forecaster, y: np.ndarray, origin: int, start: int) -> Forecaster:
    """`f`, fitted on `y[:origin]`, forecasting from `start` instead: exponential smoothing's
    state brought up to date (its parameters unchanged); the others read the history."""
    if f.ets is None or start == origin:
        return f
    return replace(f, ets={**f.ets, **ets_filter(y[origin:start], f.ets, f.ets)})


def scores(actual: np.ndarray, predicted: np.ndarray, scale: float) -> dict[str, float]:
    err = predicted - actual
    denom = np.abs(actual) + np.abs(predicted)
    smape = np.where(denom > 0, 2 * np.abs(err) / np.where(denom > 0, denom, 1), 0.0)
    return {
        "mase": float(np.abs(err).mean() / scale),
        "smape": float(smape.mean() * 100),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
    }


def naive_scale(y: np.ndarray, season: int) -> float:
    """MASE's denominator: the mean error of the seasonal naive forecast, one season ahead,
    over the history (Hyndman and Koehler, 2006); the naive one when a season is too long."""
    m = season if len(y) > season else 1
    scale = float(np.abs(y[m:] - y[:-m]).mean())
    return scale if scale > 0 else float(np.abs(y).mean() or 1.0)


def widths(residuals: np.ndarray, interval: float) -> list[float]:
    """Half-widths per step ahead: the errors' scale up to each step (pooled over the steps so
    far, as a few backtests are few errors; never shrinking with the step), times the
    conformal quantile of the errors on that scale (split conformal, normalized)."""
    per_step = np.abs(residuals).mean(axis=0)
    scale = np.maximum.accumulate(np.cumsum(per_step) / np.arange(1, len(per_step) + 1))
    scale = np.maximum(scale, 1e-9)
    normed = np.sort((np.abs(residuals) / scale).ravel())
    rank = min(len(normed), math.ceil((len(normed) + 1) * interval)) - 1
    return [float(v) for v in scale * normed[rank]]


# --- the run -------------------------------------------------------------------------------


def words(en: str, zh: str) -> dict[str, str]:
    return {"en": en, "zh-CN": zh}


def role_columns(run: aicc_template.Run, table: dict[str, list[Any]]) -> tuple[str, str]:
    """The data's time and target columns: as mapped, else by those names, else the only
    column that can be one; otherwise the message says what to choose."""
    time_col = run.columns.get("time") or ("time" if "time" in table else None)
    if time_col is None:
        dated = [c for c in table if _timelike(c, table[c][:200])]
        if len(dated) != 1:
            raise SystemExit(
                "choose the time column: --column time=COLUMN (one of: "
                f"{', '.join(dated or list(table))})"
            )
        time_col = dated[0]
    target = run.columns.get("target") or ("target" if "target" in table else None)
    if target is None:
        numeric = [c for c in table if c != time_col and _quantity(table[c])]
        if len(numeric) != 1:
            raise SystemExit(
                "choose the column to forecast: --column target=COLUMN (one of: "
                f"{', '.join(numeric or [c for c in table if c != time_col])})"
            )
        target = numeric[0]
    for name in (time_col, target):
        if name not in table:
            raise SystemExit(f"the table has no column {name}; its columns: {', '.join(table)}")
    if time_col == target:
        raise SystemExit(f"{target} cannot be both the time and the value to forecast")
    return time_col, target


def _timelike(name: str, values: Sequence[Any]) -> bool:
    """Whether a column holds times: text or dates that parse, or whole numbers that are
    dates (20100102), or years in a column named so."""
    given = [v for v in values if v not in (None, "")]
    if not given or _share(naive_times(given)) < 0.9:
        return False
    if all(isinstance(v, int | float) for v in given):
        return min(given) > 10_000_000 or any(w in name.lower() for w in ("year", "年"))
    return True


def _quantity(values: Sequence[Any]) -> bool:
    """Whether a column can be forecast: numbers (not flags), not all the same, not a row
    number (as the fit check's candidates)."""
    if any(isinstance(v, bool) for v in values[:200]):
        return False
    v = numbers(values)
    known = v[~np.isnan(v)]
    if len(known) < 0.9 * len(v) or not len(known) or known.min() == known.max():
        return False
    return not _counter(v)


def _counter(v: np.ndarray) -> bool:
    """A row number or ID: whole numbers going up by one from row to row (nearly always)."""
    steps = np.diff(v)
    return len(v) > 2 and bool(np.all(v[~np.isnan(v)] % 1 == 0)) and (steps == 1).mean() >= 0.9


def _share(values: Sequence[Any]) -> float:
    """The share of the non-empty cells that are a time or a number (not None or NaN)."""
    known = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return len(known) / max(len(values), 1)


def regressor_columns(
    table: dict[str, list[Any]], used: Sequence[str], y: np.ndarray
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The table's other number columns, as regressors; the others dropped, each with why."""
    keep: dict[str, np.ndarray] = {}
    dropped = []
    for name, values in table.items():
        if name in used:
            continue
        v = numbers(values)
        given = sum(x is not None and str(x).strip() != "" for x in values)
        known = ~np.isnan(v)
        why = None
        if given == 0 or known.sum() < 0.9 * given:
            why = words(
                "text or categories: only numbers are used as regressors",
                "文本或类别：只有数值列用作外部变量",
            )
        elif known.sum() < 0.8 * len(v):
            why = words("mostly empty", "大部分为空")
        elif np.nanmin(v) == np.nanmax(v):
            why = words("the same in every row", "每一行都相同")
        elif _counter(v):
            why = words("a row number or ID", "行号或 ID")
        else:
            both = known & ~np.isnan(y)
            same = np.allclose(v[both], y[both]) if both.any() else False
            corr = np.corrcoef(v[both], y[both])[0, 1] if both.sum() > 2 else 0.0
            if same or abs(corr) > 0.999:
                why = words(
                    "a copy of the value to forecast: it would leak it",
                    "与要预测的值相同：会泄露答案",
                )
        if why:
            dropped.append({"column": name, "why": why})
        else:
            keep[name] = v
    return keep, dropped


def prepare(run: aicc_template.Run) -> tuple[Series, str, str, list[dict[str, Any]]]:
    """The table read and turned into a regular series, or a SystemExit saying why not."""
    path = run.data / run.table if run.table else None
    if path is None:
        wanted = [c for c in (run.columns.get("time"), run.columns.get("target")) if c]
        path = aicc_template.find_table(run.data, wanted)
    table = aicc_template.read_table(path)
    if not table:
        raise SystemExit(f"{path.name} has no columns")
    time_col, target = role_columns(run, table)
    times = naive_times(table[time_col])
    bad = [
        v for v, t in zip(table[time_col], times, strict=True) if t is None and v not in ("", None)
    ]
    if len(bad) > 0.1 * len(times):
        raise SystemExit(f"{time_col}: {bad[0]!r} is not a date or time")
    y = numbers(table[target])
    if np.isnan(y).all():
        raise SystemExit(f"{target} has no numbers to forecast")
    regs, dropped = regressor_columns(table, (time_col, target), y)
    ok = [i for i, t in enumerate(times) if t is not None]
    when = [times[i] for i in ok]
    distinct = sorted(set(when))
    freq = aicc_template.frequency(distinct)
    if freq is None:
        gaps = np.diff([t.timestamp() for t in distinct]) if len(distinct) > 1 else np.zeros(1)
        raise SystemExit(
            f"{time_col}: the times are irregular ({len(distinct)} distinct, {_span(gaps)} "
            "apart); a series needs one row per hour, day, week, month, quarter or year "
            "(aggregate it to one of these first)"
        )
    longest = gap_filled(freq, int(run.hp["season"]) or SEASON[freq])
    series = regular(when, y[ok], {k: v[ok] for k, v in regs.items()}, freq, longest)
    flags = [k for k in regs if all(isinstance(v, bool) for v in table[k] if v is not None)]
    series.kinds = {k: "boolean" if k in flags else "number" for k in regs}
    return series, time_col, target, dropped


def _span(gaps: np.ndarray) -> str:
    """Gaps in seconds, in words: the median, and the least and most."""
    unit, size = ("days", 86400.0) if np.median(gaps) >= 86400 else ("hours", 3600.0)
    low, mid, high = (f"{v / size:.3g}" for v in (gaps.min(), np.median(gaps), gaps.max()))
    return f"{mid} {unit} at the median, from {low} to {high}"


def sizes(hp: dict[str, Any], s: Series) -> tuple[int, int, int, list[dict[str, str]]]:
    """The horizon, season (given, or by the frequency) and backtests, or a SystemExit saying
    how many points the series would need. A season chosen by the frequency that the data is
    too short to learn with every backtest is learned with fewer (at least one: a season
    dropped costs more than a backtest), else left out; either is said."""
    freq, n, backtests = s.grid.freq, len(s.y), int(hp["backtests"])
    horizon = int(hp["horizon"]) or HORIZON[freq]
    season = int(hp["season"]) or SEASON[freq]
    needs = 2 * season + horizon * (backtests + 1)
    plain = 2 + horizon * (backtests + 1)  # without a season
    if plain <= n < needs and not int(hp["season"]) and season > 1:
        fewer = (n - 2 * season) // horizon - 1
        if fewer >= 1:
            said = words(
                f"{n} points are too few for {backtests} backtests with a season of {season}: "
                f"{fewer} backtest{'s' if fewer > 1 else ''}",
                f"{n} 个点不足以在周期长度为 {season} 时进行 {backtests} 次回测：改为 {fewer} 次",
            )
            return horizon, season, fewer, [said]
        said = words(
            f"{n} points are too few to learn a season of {season}: learned without one",
            f"{n} 个点不足以学习长度为 {season} 的周期：按无周期学习",
        )
        return horizon, 1, backtests, [said]
    if n < needs:
        cut = f" (after a long gap, from {s.times(0, 1)[0]:%Y-%m-%d})" if s.start else ""
        least = f"{needs}" if int(hp["season"]) or season == 1 else f"{plain} ({needs} to learn"
        least += "" if int(hp["season"]) or season == 1 else f" a season of {season})"
        raise SystemExit(
            f"{n} {UNITS[freq][0]} of data{cut}: too few for a horizon of {horizon} with "
            f"{backtests} backtests; it needs at least {least} (2 seasons + horizon x "
            "(backtests + 1)): give more history, or a smaller horizon, season or backtests"
        )
    return horizon, season, backtests, []


def autocorrelation(y: np.ndarray, longest: int) -> np.ndarray:
    """The autocorrelation of the differenced series (a trend left out) at lags 0 to
    `longest` + 1 (fewer for a short series), by FFT."""
    x = np.diff(y)
    x = x - x.mean()
    if not x.any():
        return np.ones(1)
    spectrum = np.fft.rfft(x, 2 * len(x))
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[: min(longest, len(x) - 2) + 2]
    return np.asarray(acf / acf[0])


def acf_peak(y: np.ndarray, longest: int) -> tuple[int, float] | None:
    """The strongest peak of the autocorrelation of the differenced series between lags 2 and
    `longest` (a local maximum above 2/sqrt(n), the usual bound of noise), and its height:
    a cycle of the data's own (sunspots' ~11 years), whatever the calendar says."""
    acf = autocorrelation(y, longest)
    top = len(acf) - 2
    bound = 2 / math.sqrt(len(y))
    peaks = [
        k
        for k in range(2, top + 1)
        if acf[k] > bound and acf[k] > acf[k - 1] and acf[k] >= acf[k + 1]
    ]
    if not peaks:
        return None
    best = max(peaks, key=lambda k: acf[k])
    return best, float(acf[best])


def seasons_to_try(
    y: np.ndarray, freq: str, given: int, horizon: int, backtests: int, fallback: int
) -> list[tuple[int, dict[str, str]]]:
    """The seasons the backtests choose between, each with how it was found: the one given;
    else the frequency's calendar seasons that the history can teach (2 seasons + the
    backtests), `fallback` (the frequency's, or 1 when it is too long) first, and the
    autocorrelation's strongest peak when it is none of them nor a multiple of one. A second
    calendar season (a week of hours, a year of days) only where the series correlates with
    itself that far back more than one first season back (and above 2/sqrt(n)): each season
    tried is another round of fits."""
    if given:
        return [(given, words("given", "指定"))]
    room = len(y) - horizon * (backtests + 1)
    out = [(fallback, words("by the frequency", "按频率"))]
    acf = autocorrelation(y, max(CALENDAR[freq]))
    for m in CALENDAR[freq]:
        first = CALENDAR[freq][0]
        seen = m < len(acf) and acf[m] > max(2 / math.sqrt(len(y)), acf[min(first, len(acf) - 1)])
        if m != fallback and m > 1 and 2 * m <= room and (m == SEASON[freq] or seen):
            out.append((m, words("by the frequency", "按频率")))
    peak = acf_peak(y, min(len(y) // 3, room // 2, MAX_SEASON))
    if peak and all(peak[0] % m for m, _ in out if m > 1):
        m, height = peak
        out.append(
            (
                m,
                words(
                    f"from the data: the autocorrelation's peak at lag {m} ({height:.2f})",
                    f"由数据得出：自相关在滞后 {m} 处的峰值（{height:.2f}）",
                ),
            )
        )
    return out


Backtests = dict[int, tuple[dict[str, list[np.ndarray]], dict[str, Any] | None]]


def backtest(
    run: aicc_template.Run,
    s: Series,
    horizon: int,
    seasons: Sequence[int],
    end: int,
    scale: float,
    folds: int,
) -> Backtests:
    """Per season tried, each candidate's errors (forecast minus actual, a row per forecast)
    in the rolling backtests before `end`, and the last Holt-Winters fit. Each backtest fits
    every season's candidates, so all are measured on the same windows; after half the time
    budget, no further backtest starts (the first always runs)."""
    freq = s.grid.freq
    origins = [end - horizon * (folds - j) for j in range(folds)]
    candidates = {}
    for m in seasons:
        names = ["seasonal_naive", *(["naive", "seasonal_drift"] if m > 1 else []), "mean"]
        names += ["ets", "theta", *(["combined"] if m > 1 else [])]
        lags = lags_for(freq, m, origins[0])  # none when the first fit is a few points
        if lags and origins[0] - Boosted(freq, m, lags, []).reach >= 20:
            names += ["gbm", *(["gbm_regressors"] if s.regressors else []), "mean_ets_gbm"]
        candidates[m] = names
    out: Backtests = {m: ({}, None) for m in seasons}
    for fold, origin in enumerate(origins):
        if fold and time.monotonic() - run.started > float(run.hp["time_budget_s"]) / 2:
            break
        for m in seasons:
            errors, ets = out[m]
            f = fit_all(candidates[m], s, origin, m, ets)
            for start in windows(origin, horizon, end):
                moved = moved_to(f, s.y, origin, start)
                for name in candidates[m]:
                    got = predict_with(name, moved, s.y[:start], horizon, s.times(), s.regressors)
                    errors.setdefault(name, []).append(got - s.y[start : start + horizon])
            out[m] = errors, f.ets or ets
        mase = {
            m: {k: float(np.abs(np.vstack(v)).mean() / scale) for k, v in errors.items()}
            for m, (errors, _) in out.items()
        }
        if len(seasons) == 1:
            run.log(fold + 1, **{f"mase_{k}": v for k, v in mase[seasons[0]].items()})
        else:  # the best of each season
            run.log(fold + 1, **{f"mase_season_{m}": min(v.values()) for m, v in mase.items()})
    return out


def main() -> None:
    import json

    import joblib
    from threadpoolctl import threadpool_limits

    run = aicc_template.start()
    interval = float(run.hp["interval"])
    series, time_col, target, dropped = prepare(run)
    horizon, season, folds, notes = sizes(run.hp, series)
    n = len(series.y)
    import sklearn.ensemble  # noqa: F401  (its OpenMP loaded: a limit only reaches loaded pools)

    threadpool_limits(1 if n < 20_000 else None)
    end = n - horizon  # the last `horizon` points are held out
    # MASE is scaled by the frequency's own season (1 for yearly data; the one given), as the
    # baseline repeats it, whichever season the backtests choose.
    scale = naive_scale(series.y[:end], season)
    tries = seasons_to_try(
        series.y[:end],
        series.grid.freq,
        int(run.hp["season"]),
        horizon,
        folds,
        season,
    )
    tried = backtest(run, series, horizon, [m for m, _ in tries], end, scale, folds)
    best = {
        m: {k: float(np.abs(np.vstack(v)).mean()) / scale for k, v in errors.items()}
        for m, (errors, _) in tried.items()
    }
    found = min(best, key=lambda m: min(best[m].values()))  # the first of equals
    how = dict(tries)[found]
    errors, ets = tried[found]
    mase = best[found]
    chosen = min(mase, key=mase.__getitem__)  # the first (the simplest) of equals
    base_season, season = season, found

    # The held-out tail: the chosen model fitted on everything before it.
    needed = {"mean_ets_gbm": ["ets", "gbm"], "combined": ["ets", "theta"]}.get(chosen, [chosen])
    f = fit_all(needed, series, end, season, ets)
    actual = series.y[end:]
    tail = predict_with(chosen, f, series.y[:end], horizon, series.times(), series.regressors)
    half = np.array(widths(np.vstack(errors[chosen]), interval))
    naive = seasonal_naive(series.y[:end], horizon, base_season)
    got, base = scores(actual, tail, scale), scores(actual, naive, scale)
    inside = (actual >= tail - half) & (actual <= tail + half)
    metrics = {**got, "baseline_mase": base["mase"], "baseline_mae": base["mae"]}
    metrics["coverage"] = float(inside.mean())

    # The model: refit on the whole series; its intervals from every backtest and the tail.
    # Without the regressors' future values, the best forecaster that does without them.
    fallback = min((k for k in mase if k != "gbm_regressors"), key=mase.__getitem__)
    more = [fallback] if chosen == "gbm_regressors" else []
    final = fit_all([*needed, *more], series, n, season, ets)
    final.name = chosen
    reach = max(4 * season, *(m.reach for m in (final.gbm, final.plain) if m is not None), horizon)
    saved = {
        "forecaster": final,
        "fallback": fallback,
        "freq": series.grid.freq,
        "grid": series.grid,
        "y": series.y[-max(reach + horizon * 4, 50_000) :],
        "end": series.start + n,  # the period after the last known point
        "regressors": sorted(series.regressors) if chosen == "gbm_regressors" else [],
        "horizon": horizon,
        "season": season,
        "reach": reach,
        "gap": gap_filled(series.grid.freq, season),
        "half_widths": widths(np.vstack([*errors[chosen], tail - actual]), interval),
        "interval": interval,
        "time": time_col,
        "target": target,
    }
    joblib.dump(saved, run.model_dir / "model.joblib")
    schema = schema_of(series, saved)
    (run.model_dir / "schema.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False))
    lower = tail - half if f.floor is None else np.maximum(tail - half, f.floor)
    held = {"predicted": tail, "lower": lower, "upper": tail + half}
    facts = {"dropped": dropped, "notes": notes, "backtests": mase, "chosen": chosen}
    facts["season_found"] = how
    facts["seasons"] = {str(m): round(min(v.values()), 4) for m, v in best.items()}
    facts["mase_season"] = base_season
    run.finish(metrics, report_of(series, saved, metrics, held, facts))


MODELS = {
    "seasonal_naive": words("the seasonal naive forecast", "季节性朴素预测"),
    "naive": words("the last value repeated (naive forecast)", "重复最后一个值（朴素预测）"),
    "seasonal_drift": words(
        "the last season repeated with the last year's change (seasonal naive with drift)",
        "重复上一个周期并加上最近一年的变化（带漂移的季节性朴素预测）",
    ),
    "mean": words("the mean of the history", "历史均值"),
    "theta": words("the Theta method", "Theta 方法"),
    "ets": words("Holt-Winters exponential smoothing", "Holt-Winters 指数平滑"),
    "gbm": words("gradient-boosted trees on lags and the calendar", "基于滞后值和日历的梯度提升树"),
    "gbm_regressors": words(
        "gradient-boosted trees on lags, the calendar and the other columns",
        "基于滞后值、日历和其他列的梯度提升树",
    ),
    "combined": words(
        "the mean of Holt-Winters, the Theta method and the seasonal naive forecast with drift",
        "Holt-Winters、Theta 方法与带漂移的季节性朴素预测的平均",
    ),
    "mean_ets_gbm": words(
        "the mean of Holt-Winters and gradient-boosted trees", "Holt-Winters 与梯度提升树的平均"
    ),
}


def schema_of(s: Series, saved: dict[str, Any]) -> dict[str, Any]:
    """What the model speaks (model/schema.json), in the user's column names."""
    time_col, target = saved["time"], saved["target"]
    first = s.grid.label(s.grid.at(saved["end"]))
    inputs: list[dict[str, Any]] = [
        {"name": time_col, "type": "datetime", "required": True, "example": first}
    ]
    for name in saved["regressors"]:
        v, kind = s.regressors[name], s.kinds.get(name, "number")
        about: dict[str, Any] = {"name": name, "type": kind, "required": False}
        if kind == "boolean":
            about["example"] = bool(v[-1])
        else:
            about |= {"example": float(v[-1]), "min": float(v.min()), "max": float(v.max())}
        inputs.append(about)
    outputs = [{"name": time_col, "type": "datetime"}]
    outputs += [{"name": f"{target}_{k}", "type": "number"} for k in ("forecast", "lower", "upper")]
    return {
        "task": "forecasting",
        "target": target,
        "time": time_col,
        "frequency": s.grid.freq,
        "horizon": saved["horizon"],
        "season": saved["season"],
        "interval": saved["interval"],
        "inputs": inputs,
        "outputs": outputs,
    }


def notes_of(s: Series, used: list[str]) -> list[dict[str, str]]:
    """What the run did to the data and its columns, in words."""
    unit_en, unit_zh = UNITS[s.grid.freq]
    notes = []
    unused = ", ".join(sorted(set(s.regressors) - set(used)))
    if unused:
        notes.append(
            words(
                f"not used: {unused} (the forecasts were no better with them in the backtests)",
                f"未使用：{unused}（回测中加入它们并未改善预测）",
            )
        )
    if s.notes["duplicates"]:
        d = s.notes["duplicates"]
        notes.append(
            words(f"{d} rows at a time already seen: averaged", f"{d} 行的时间重复：已取平均")
        )
    if s.notes["filled"]:
        g = s.notes["filled"]
        notes.append(
            words(
                f"{g} missing {unit_en} filled in by interpolation",
                f"{g} 个缺失的时间点（{unit_zh}）已插值补齐",
            )
        )
    if s.notes["cut"]:
        first = s.times(0, 1)[0]
        notes.append(
            words(
                f"learned from {first:%Y-%m-%d} on: the data has a long gap before",
                f"从 {first:%Y-%m-%d} 起学习：此前数据有较长的缺口",
            )
        )
    return notes


def report_of(
    s: Series,
    saved: dict[str, Any],
    metrics: dict[str, float],
    held: dict[str, np.ndarray],
    facts: dict[str, Any],
) -> dict[str, Any]:
    """report.json: the summary, the facts and the held-out tail's chart (contract 4)."""
    freq, n, horizon, chosen = s.grid.freq, len(s.y), saved["horizon"], facts["chosen"]
    unit_en, unit_zh = UNITS[freq]
    first, last = s.times(0, 1)[0], s.times(n - 1, 1)[0]
    mase, base, interval = metrics["mase"], metrics["baseline_mase"], saved["interval"]
    better = mase < base
    tried = len(facts["backtests"])
    summary_en = (
        f"Learned to forecast {saved['target']} {horizon} {unit_en} ahead from {n} {unit_en} "
        f"({first:%Y-%m-%d} to {last:%Y-%m-%d}) with {MODELS[chosen]['en']}, the best of "
        f"{tried} forecasters in rolling backtests, with a season of {saved['season']} "
        f"({facts['season_found']['en']}). On the last {horizon} {unit_en}, held out, "
        f"its MASE is {mase:.3f} (repeating the last season: {base:.3f}; "
        f"{'better' if better else 'not better'} than that), its mean absolute error "
        f"{metrics['mae']:.4g}, and {metrics['coverage']:.0%} of the points fell in its "
        f"{interval:.0%} interval."
    )
    summary_zh = (
        f"用{MODELS[chosen]['zh-CN']}（滚动回测中 {tried} 种预测方法里最好的）从 {n} 个时间点"
        f"（{first:%Y-%m-%d} 至 {last:%Y-%m-%d}）学习预测未来 {horizon} {unit_zh}的 "
        f"{saved['target']}，周期长度为 {saved['season']}（{facts['season_found']['zh-CN']}）。"
        f"在留出的最后 {horizon} 个时间点上，MASE 为 {mase:.3f}（重复上一个"
        f"周期为 {base:.3f}，{'优于' if better else '未优于'}后者），平均绝对误差 "
        f"{metrics['mae']:.4g}，{metrics['coverage']:.0%} 的点落在 {interval:.0%} 预测区间内。"
    )
    tail = slice(max(0, horizon - 500), None)
    chart = {"time": [s.grid.label(t) for t in s.times(n - horizon)][tail]}
    chart["actual"] = [round(float(v), 6) for v in s.y[n - horizon :]][tail]
    chart |= {k: [round(float(x), 6) for x in v][tail] for k, v in held.items()}
    return {
        "summary": words(summary_en, summary_zh),
        "facts": {
            "rows": n,
            "rows_read": s.notes["rows_read"],
            "target": saved["target"],
            "time": saved["time"],
            "task": "forecasting",
            "frequency": freq,
            "horizon": horizon,
            "season": saved["season"],
            "season_found": facts["season_found"],
            "seasons_tried": facts["seasons"],
            "mase_season": facts["mase_season"],
            "metric": "mase",
            "score": mase,
            "baseline": base,
            "baseline_name": NAIVE,
            "model": chosen,
            "model_name": MODELS[chosen],
            "backtests": {k: round(v, 4) for k, v in facts["backtests"].items()},
            "regressors": saved["regressors"],
            "duplicates": s.notes["duplicates"],
            "filled": s.notes["filled"],
            "interval": interval,
            "dropped": facts["dropped"],
            "notes": facts["notes"] + notes_of(s, saved["regressors"]),
        },
        "charts": {"forecast": chart},
        "predicts": f"{saved['target']} at each of the next {horizon} {unit_en}, with a "
        f"{interval:.0%} interval",
    }


if __name__ == "__main__":
    main()
