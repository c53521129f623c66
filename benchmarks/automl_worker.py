"""The FLAML and AutoGluon side of `benchmarks/automl.py`: one system trained on a spec's
training table within its budget, its predictions for the held-out rows written as JSON.

Run by the system's own Python (AutoGluon's lives in a virtualenv of its own, without AICC), so
it imports the standard library at module level and nothing of AICC at all. Besides the
predictions it writes what the system had: the learners it searched and its libraries' versions
(FLAML's core with LightGBM and the CPU build of XGBoost, as the `test` extra installs it, and
`flaml[automl]` search the same learners; a figure says which build it came from).

    python benchmarks/automl_worker.py flaml|autogluon SPEC.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SEED = 0
# The library each of FLAML's learners needs, where it is not scikit-learn: a learner whose
# library is not installed is left out of the search (FLAML's "auto" would fail on it).
FLAML_NEEDS = {
    "lgbm": "lightgbm",
    "xgboost": "xgboost",
    "xgb_limitdepth": "xgboost",
    "catboost": "catboost",
    "arima": "statsmodels",
    "sarimax": "statsmodels",
    "holt-winters": "statsmodels",
    "prophet": "prophet",
}
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
    predictions, model, learners, libraries = predict(spec, train, test, target, budget)
    out = {
        "predictions": [_plain(v) for v in predictions],
        "model": model,
        "learners": learners,
        "libraries": libraries,
    }
    Path(spec["out"]).write_text(json.dumps(out))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _flaml(spec: dict[str, Any], train: Any, test: Any, target: str, budget: float) -> Any:
    try:
        from flaml.automl.automl import AutoML  # not flaml's re-export, which hides the cause
    except ImportError as e:  # FLAML 2.7's AutoML imports xgboost, whatever the learners
        raise SystemExit(
            f"FLAML's AutoML does not import ({e}): pip install -e '.[test]' (FLAML's core, "
            "LightGBM, XGBoost's CPU build) or '.[bench]' (flaml[automl])"
        ) from e

    automl = AutoML()
    kind = "ts_forecast" if spec["task"] == "forecasting" else spec["task"]
    learners = _flaml_learners(kind)
    settings = {"time_budget": budget, "seed": SEED, "verbose": 0, "estimator_list": learners}
    if spec.get("threads"):
        settings["n_jobs"] = int(spec["threads"])
    libraries = _versions("flaml", "lightgbm", "xgboost", "catboost")
    if spec["task"] == "forecasting":
        data = train[[spec["time"], target]]
        automl.fit(
            dataframe=data, label=target, task=kind, period=spec["horizon"],
            metric="mae", **settings,
        )  # fmt: skip
        predictions = list(automl.predict(test[[spec["time"]]]))
        return predictions, str(automl.best_estimator), learners, libraries
    metric = "accuracy" if spec["task"] == "classification" else "r2"
    x = train.drop(columns=[target])
    automl.fit(X_train=x, y_train=train[target], task=kind, metric=metric, **settings)
    predictions = list(automl.predict(test[x.columns]))
    return predictions, str(automl.best_estimator), learners, libraries


def _flaml_learners(kind: str) -> list[str]:
    """FLAML's own default learners for the task, less those whose library is not installed."""
    from importlib.util import find_spec

    from flaml.automl.task.factory import task_factory

    default = task_factory(kind).default_estimator_list("auto", False)
    return [e for e in default if find_spec(FLAML_NEEDS.get(e, "sklearn")) is not None]


def _versions(*modules: str) -> str:
    """The installed ones of `modules` as "name version", XGBoost with its build (the CPU-only
    `xgboost-cpu` and the CUDA `xgboost` learn the same on a CPU)."""
    from importlib import metadata
    from importlib.util import find_spec

    found = []
    owners = metadata.packages_distributions()
    for module in modules:
        if find_spec(module) is None:
            continue
        names = owners.get(module, [module])
        said = f"{'+'.join(sorted(names))} {metadata.version(names[0])}"
        if module == "xgboost":
            import xgboost

            said += " (CUDA build)" if xgboost.build_info().get("USE_CUDA") else " (CPU build)"
        found.append(said)
    return ", ".join(found)


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
        predictions = list(ts.predict(series)["mean"])
        return predictions, str(ts.model_best), list(ts.model_names()), _ag_versions()
    from autogluon.tabular import TabularPredictor

    kind = "regression"
    if spec["task"] == "classification":
        kind = "binary" if train[target].nunique() == 2 else "multiclass"
    metric = "accuracy" if spec["task"] == "classification" else "r2"
    tabular = TabularPredictor(
        label=target, problem_type=kind, eval_metric=metric, path=str(work), verbosity=0
    )
    threads = {"num_cpus": int(spec["threads"])} if spec.get("threads") else {}
    tabular.fit(train, time_limit=budget, **threads)
    x = test.drop(columns=[target])
    predictions = list(tabular.predict(x))
    return predictions, str(tabular.model_best), list(tabular.model_names()), _ag_versions()


def _ag_versions() -> str:
    return _versions("autogluon.core", "lightgbm", "catboost", "xgboost", "torch")


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
