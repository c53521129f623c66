"""The FLAML and AutoGluon side of `benchmarks/automl.py`: one system trained on a spec's
training table within its budget, its predictions for the held-out rows written as JSON.

Run by the system's own Python (AutoGluon's lives in a virtualenv of its own, without AICC), so
it imports the standard library at module level and nothing of AICC at all.

    python benchmarks/automl_worker.py flaml|autogluon SPEC.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SEED = 0
# AutoGluon's series models that need no download (its "light" set less Chronos-2 and Toto).
AG_SERIES_MODELS = ("SeasonalNaive", "ETS", "Theta", "RecursiveTabular", "DirectTabular")


def worker(system: str, spec_path: str) -> None:
    """Train `system` on the spec's training table and write its held-out predictions."""
    import warnings

    import pandas as pd

    warnings.filterwarnings("ignore")
    spec = json.loads(Path(spec_path).read_text())
    train, test = pd.read_csv(spec["train"]), pd.read_csv(spec["test"])
    target, budget = spec["target"], float(spec["budget"])
    if spec["task"] == "forecasting":
        for data in (train, test):
            data[spec["time"]] = pd.to_datetime(data[spec["time"]])
    predict = {"flaml": _flaml, "autogluon": _autogluon}[system]
    predictions, model = predict(spec, train, test, target, budget)
    out = {"predictions": [_plain(v) for v in predictions], "model": model}
    Path(spec["out"]).write_text(json.dumps(out))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _flaml(spec: dict[str, Any], train: Any, test: Any, target: str, budget: float) -> Any:
    from flaml import AutoML

    automl = AutoML()
    settings = {"time_budget": budget, "seed": SEED, "verbose": 0}
    if spec["task"] == "forecasting":
        data = train[[spec["time"], target]]
        automl.fit(
            dataframe=data, label=target, task="ts_forecast", period=spec["horizon"],
            metric="mae", **settings,
        )  # fmt: skip
        return list(automl.predict(test[[spec["time"]]])), str(automl.best_estimator)
    metric = "accuracy" if spec["task"] == "classification" else "r2"
    x = train.drop(columns=[target])
    automl.fit(X_train=x, y_train=train[target], task=spec["task"], metric=metric, **settings)
    return list(automl.predict(test[x.columns])), str(automl.best_estimator)


def _autogluon(spec: dict[str, Any], train: Any, test: Any, target: str, budget: float) -> Any:
    work = Path(spec["work"]) / "model"
    if spec["task"] == "forecasting":
        from autogluon.timeseries import TimeSeriesDataFrame, TimeSeriesPredictor

        series = TimeSeriesDataFrame.from_data_frame(
            train.assign(item=0), id_column="item", timestamp_column=spec["time"]
        )
        ts = TimeSeriesPredictor(
            prediction_length=spec["horizon"], target=target, eval_metric="MASE",
            path=str(work), verbosity=0,
        )  # fmt: skip
        ts.fit(series, time_limit=budget, hyperparameters={m: {} for m in AG_SERIES_MODELS})
        return list(ts.predict(series)["mean"]), str(ts.model_best)
    from autogluon.tabular import TabularPredictor

    kind = "regression"
    if spec["task"] == "classification":
        kind = "binary" if train[target].nunique() == 2 else "multiclass"
    metric = "accuracy" if spec["task"] == "classification" else "r2"
    tabular = TabularPredictor(
        label=target, problem_type=kind, eval_metric=metric, path=str(work), verbosity=0
    )
    tabular.fit(train, time_limit=budget)
    x = test.drop(columns=[target])
    return list(tabular.predict(x)), str(tabular.model_best)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
