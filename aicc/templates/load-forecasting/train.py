"""Electric load forecasting: gradient-boosted trees (scikit-learn's
HistGradientBoostingRegressor) forecast the next `horizon_hours` of hourly load from the last
week of load, the calendar (hour, weekday, Chinese public holidays) and the temperature. One
model covers every hour ahead: it learns the change from the same hour of the latest known day.
Measured on the last `test_days` days, never seen in training (a time split).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any

import aicc_template
import numpy as np

WEEK = 168
# A series' frequency (`aicc_template.frequency`) in the words of the fit check's refusal.
ONE_PER = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def _days(first: date, last: date) -> set[str]:
    return {str(first + timedelta(days=i)) for i in range((last - first).days + 1)}


# Chinese public holidays (the days off, 国务院办公厅 notices), 2024 to 2026.
HOLIDAYS = sorted(
    {"2024-01-01", "2024-06-10", "2025-01-01", "2026-01-01", "2026-01-02", "2026-01-03"}
    | _days(date(2024, 2, 10), date(2024, 2, 17))
    | _days(date(2024, 4, 4), date(2024, 4, 6))
    | _days(date(2024, 5, 1), date(2024, 5, 5))
    | _days(date(2024, 9, 15), date(2024, 9, 17))
    | _days(date(2024, 10, 1), date(2024, 10, 7))
    | _days(date(2025, 1, 28), date(2025, 2, 4))
    | _days(date(2025, 4, 4), date(2025, 4, 6))
    | _days(date(2025, 5, 1), date(2025, 5, 5))
    | _days(date(2025, 5, 31), date(2025, 6, 2))
    | _days(date(2025, 10, 1), date(2025, 10, 8))
    | _days(date(2026, 2, 15), date(2026, 2, 23))
    | _days(date(2026, 4, 4), date(2026, 4, 6))
    | _days(date(2026, 5, 1), date(2026, 5, 5))
    | _days(date(2026, 6, 19), date(2026, 6, 21))
    | _days(date(2026, 9, 25), date(2026, 9, 27))
    | _days(date(2026, 10, 1), date(2026, 10, 7))
)
FEATURES = [
    "hours_ahead",
    "hour",
    "weekday",
    "day_off",
    "temperature",
    "temperature_same_hour_last_known_day",
    "load_same_hour_last_known_day",
    "load_same_hour_last_known_week",
    "load_last_hour",
    "load_mean_last_24h",
    "load_change_last_24h",
]


def hourly(table: dict[str, list[Any]]) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    """The series on an hourly grid from its first to its last hour: rows sorted, a repeated
    hour's last row kept, a missing hour's load and temperature carried forward (the trees
    allow NaN, but the lags should not all be missing after one lost reading)."""
    rows = {}
    stamps = aicc_template.parse_times(table["timestamp"])  # any common format, as the check
    for t, load, temp in zip(stamps, table["load_mw"], table["temperature"], strict=True):
        if t is not None:
            rows[t.replace(minute=0, second=0, microsecond=0)] = (
                aicc_template.number(load),
                aicc_template.number(temp),
            )
    if not rows:
        raise SystemExit("the table has no timestamps")
    first, last = min(rows), max(rows)
    times = [
        first + timedelta(hours=i) for i in range(int((last - first).total_seconds()) // 3600 + 1)
    ]
    load = np.array([rows.get(t, (math.nan, math.nan))[0] for t in times])
    temp = np.array([rows.get(t, (math.nan, math.nan))[1] for t in times])
    return times, load, temp


def hourly_only(stamps: list[Any], name: str) -> None:
    """Refuse times of another frequency (daily rows would be forward-filled into 23 made-up
    hours a day), as the fit check does, in its words; readings more often than hourly are
    binned into hours (`hourly`)."""
    times = [t for t in aicc_template.parse_times(stamps) if t is not None]
    hours = [t.replace(minute=0, second=0, microsecond=0) for t in times]
    if aicc_template.frequency(hours) == "H":
        return
    found = aicc_template.frequency(times)
    has = f"one row per {ONE_PER[found]} ({found})" if found else "irregular times"
    raise SystemExit(f"load-forecasting needs one row per hour; column {name} has {has}")


def fill_forward(values: np.ndarray) -> np.ndarray:
    out = values.copy()
    for i in range(1, len(out)):
        if math.isnan(out[i]):
            out[i] = out[i - 1]
    return out


def rows_for(
    origin: int,
    horizon: int,
    times: list[datetime],
    load: np.ndarray,
    temp: np.ndarray,
    holidays: set[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the forecasts made at hour `origin` (the last known load) for the next
    `horizon` hours, and each one's base (the load at the same hour of the latest known day):
    the model predicts load minus base. `temp` must reach origin + horizon (a forecast, or the
    same hour of the day before when none is given)."""
    ahead = np.arange(1, horizon + 1)
    target = origin + ahead
    day_lag = target - 24 * np.ceil(ahead / 24).astype(int)
    week_lag = target - WEEK * np.ceil(ahead / WEEK).astype(int)
    last_day = load[origin - 23 : origin + 1]
    when = [times[origin] + timedelta(hours=int(h)) for h in ahead]
    base = load[day_lag]
    x = np.column_stack(
        [
            ahead,
            [t.hour for t in when],
            [t.weekday() for t in when],
            [t.weekday() >= 5 or str(t.date()) in holidays for t in when],
            temp[target],
            temp[day_lag],
            base,
            load[week_lag],
            np.full(horizon, load[origin]),
            np.full(horizon, np.nanmean(last_day)),
            np.full(horizon, load[origin] - load[origin - 24]),
        ]
    ).astype(float)
    return x, base


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    horizon = int(hp["horizon_hours"])
    table = run.read_table(["timestamp", "load_mw", "temperature"])
    hourly_only(table["timestamp"], run.columns.get("timestamp", "timestamp"))  # before imports

    import joblib
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    times, load, temp = hourly(table)
    load, temp = fill_forward(load), fill_forward(temp)
    holidays = set(HOLIDAYS)
    cut = len(times) - 24 * int(hp["test_days"])  # the first held-out hour
    first = WEEK * math.ceil(horizon / WEEK)
    if cut - horizon - first < 24 * 14:
        raise SystemExit(
            f"{len(times)} hours of data: too short for {hp['test_days']} test days, "
            f"a {horizon}-hour horizon and two weeks to learn from"
        )
    xs, ys = [], []
    for origin in range(first, cut - horizon, int(hp["origin_step_hours"])):
        x, base = rows_for(origin, horizon, times, load, temp, holidays)
        xs.append(x)
        ys.append(load[origin + 1 : origin + horizon + 1] - base)
    x_train, y_train = np.vstack(xs), np.concatenate(ys)
    keep = ~np.isnan(y_train)
    threadpool_limits(1 if keep.sum() < 200_000 else None)  # small data: one thread is fastest
    model = HistGradientBoostingRegressor(
        learning_rate=hp["learning_rate"],
        max_iter=hp["max_iter"],
        max_leaf_nodes=hp["max_leaf_nodes"],
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=True,
        scoring="loss",
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=hp["seed"],
    )
    model.fit(x_train[keep], y_train[keep])
    run.log_losses(-model.train_score_, -model.validation_score_)  # half the squared error, MW²

    # Held out: a forecast made at the end of each test day (23:00) for the next horizon.
    errors, naive = [], []
    origin = cut - 1
    while origin + horizon < len(times):
        x, base = rows_for(origin, horizon, times, load, temp, holidays)
        actual = load[origin + 1 : origin + horizon + 1]
        errors.append(np.abs(model.predict(x) + base - actual) / actual)
        naive.append(np.abs(base - actual) / actual)
        origin += 24
    if not errors:
        raise SystemExit(f"test_days={hp['test_days']} leaves no room for a {horizon}h forecast")
    mape = float(np.nanmean(np.concatenate(errors)) * 100)
    baseline = float(np.nanmean(np.concatenate(naive)) * 100)
    joblib.dump(
        {"model": model, "horizon": horizon, "holidays": HOLIDAYS, "features": FEATURES},
        run.model_dir / "model.joblib",
    )
    run.finish(
        {"mape": mape, "mape_same_hour_yesterday": baseline},
        {
            "summary": {
                "en": (
                    f"Learned to forecast the next {horizon} hours of load from {len(times)} "
                    f"hours ({times[0]:%Y-%m-%d} to {times[-1]:%Y-%m-%d}). On the last "
                    f"{hp['test_days']} days, held out, its forecasts are off by {mape:.1f}% on "
                    f"average (repeating the last known day: {baseline:.1f}%)."
                ),
                "zh-CN": (
                    f"从 {len(times)} 小时的数据（{times[0]:%Y-%m-%d} 至 {times[-1]:%Y-%m-%d}）"
                    f"学习预测未来 {horizon} 小时的负荷。在留出的最后 {hp['test_days']} 天上，"
                    f"预测的平均绝对百分比误差为 {mape:.1f}%"
                    f"（直接沿用前一天同时刻为 {baseline:.1f}%）。"
                ),
            },
            "rows": len(times),
            "rows_train": int(keep.sum()),
            "test_forecasts": len(errors),
            "horizon_hours": horizon,
            "load_mw": {"min": float(np.nanmin(load)), "max": float(np.nanmax(load))},
            "trees": int(model.n_iter_),
            "predicts": f"load_mw for each of the next {horizon} hours after the history given",
        },
    )


if __name__ == "__main__":
    main()
