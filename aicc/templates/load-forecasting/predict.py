"""Forecasts the load: a table of recent hourly history (`timestamp`, `load_mw`,
`temperature`; at least a week) in, the next hours (the model's horizon) out as CSV or JSON
lines: `timestamp`, `hours_ahead`, `load_mw`. Rows after the last load with a temperature and
no load are the weather forecast; without them, each hour takes the temperature of the same
hour a day earlier."""

from __future__ import annotations

import math
from datetime import timedelta

import aicc_template
import joblib
import numpy as np
from threadpoolctl import threadpool_limits
from train import WEEK, fill_forward, hourly, rows_for


def main() -> None:
    args = aicc_template.predict_args()
    saved = joblib.load(args.model / "model.joblib")
    horizon = int(saved["horizon"])
    table = aicc_template.read_table(args.input)
    missing = [c for c in ("timestamp", "load_mw", "temperature") if c not in table]
    if missing:
        raise SystemExit(f"{args.input.name} has no column {', '.join(missing)}")
    times, load, temp = hourly(table)
    known = np.flatnonzero(~np.isnan(load))
    if not len(known):
        raise SystemExit("no row has a load_mw")
    origin = int(known[-1])
    need = WEEK * math.ceil(horizon / WEEK) + 1
    if origin + 1 < need:
        raise SystemExit(f"give at least {need} hours of history ({origin + 1} given)")
    load = fill_forward(load[: origin + 1])
    temp = np.concatenate([temp, np.full(max(0, origin + horizon + 1 - len(temp)), math.nan)])
    temp = temp[: origin + horizon + 1]
    for i in range(origin + 1, len(temp)):  # no forecast: the same hour the day before
        if math.isnan(temp[i]):
            temp[i] = temp[i - 24]
    temp = fill_forward(temp)
    times = [times[0] + timedelta(hours=i) for i in range(len(temp))]
    threadpool_limits(1)
    x, base = rows_for(origin, horizon, times, load, temp, set(saved["holidays"]))
    forecast = saved["model"].predict(x) + base
    out = {
        "timestamp": [f"{times[origin + h]:%Y-%m-%d %H:%M:%S}" for h in range(1, horizon + 1)],
        "hours_ahead": list(range(1, horizon + 1)),
        "load_mw": [round(float(v), 2) for v in forecast],
    }
    aicc_template.write_output(args.output, out)
    print(f"{horizon} hours forecast from {times[origin]:%Y-%m-%d %H:%M} -> {args.output}")


if __name__ == "__main__":
    main()
