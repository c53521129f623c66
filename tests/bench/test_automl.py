"""`benchmarks/automl.py`: AICC's generic templates and FLAML on one public table at a tiny
budget, scored on the same held-out rows, AICC's model answering through a served `/predict`,
each result saying what the system had (learners, libraries); and the metrics the comparison
rests on (MASE against the seasonal naive forecast, scores normalized by each table's best)."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "automl.py"


def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("automl_bench", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_mase_is_one_for_the_seasonal_naive_forecast_and_lower_is_better() -> None:
    bench = harness()
    table = bench.Table("s", "forecasting", "statsmodels", "y", time="t", horizon=4, season=4)
    history = [10.0, 20.0, 30.0, 40.0, 12.0, 22.0, 32.0, 42.0]  # each season +2 on the last
    train = {"y": history}
    truth = [14.0, 24.0, 34.0, 44.0]
    naive = history[-4:]
    assert bench.score(table, train, truth, naive) == pytest.approx(1.0)
    assert bench.score(table, train, truth, truth) == 0.0
    scores = {"aicc": 0.5, "flaml": 1.0, "autogluon": None}
    assert bench.normalized(table, scores) == {"aicc": 1.0, "flaml": 0.5, "autogluon": 0.0}


def test_accuracy_and_r2_are_normalized_by_the_tables_best() -> None:
    bench = harness()
    iris = bench.Table("iris", "classification", "scikit-learn", "species")
    assert bench.score(iris, {}, ["a", "b", 1, 2], ["a", "c", 1.0, 2]) == 0.75
    diabetes = bench.Table("diabetes", "regression", "scikit-learn", "progression")
    assert bench.score(diabetes, {}, [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert bench.score(diabetes, {}, [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="2 predictions for 3 rows"):
        bench.score(diabetes, {}, [1.0, 2.0, 3.0], [1.0, 2.0])
    normalized = bench.normalized(diabetes, {"aicc": 0.8, "flaml": -0.1})
    assert normalized == {"aicc": 1.0, "flaml": 0.0}


def test_aicc_and_flaml_score_iris_on_the_same_held_out_rows(tmp_path: Path) -> None:
    """The quick mode, as CI runs it: FLAML from the `test` extra (its core, LightGBM and
    XGBoost's CPU build), one thread each, a 5 s budget (the least `table-prediction` takes)."""
    assert importlib.util.find_spec("flaml"), "FLAML is in the test extra: pip install -e '.[test]'"
    args = [sys.executable, str(SCRIPT), "--only", "iris", "--budget", "5", "--threads", "1"]
    args += ["--systems", "aicc,flaml", "--dir", str(tmp_path), "--json"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    (iris,) = report["tables"]
    assert (iris["metric"], iris["rows"], iris["test_rows"]) == ("accuracy", 112, 38)
    with (tmp_path / "iris" / "test.csv").open() as held_out:
        truth = [row["species"] for row in csv.DictReader(held_out)]
    assert len(truth) == 38
    for system in ("aicc", "flaml"):
        result = iris["results"][system]
        assert result["error"] is None, result
        assert 0.8 <= result["score"] <= 1, result
        assert result["seconds"] > 0 and result["model"]
        assert result["budget_s"] == 5  # the same budget for both
        # a prediction for every held-out row, each one of the table's classes
        saved = json.loads((tmp_path / "iris" / system / "predictions.json").read_text())
        assert len(saved["predictions"]) == 38
        assert set(saved["predictions"]) <= set(truth), saved["predictions"]
    aicc, flaml = iris["results"]["aicc"], iris["results"]["flaml"]
    assert aicc["api_seconds"] > aicc["seconds"]  # trained, then served and answering /predict
    assert aicc["learners"] and aicc["libraries"].startswith("scikit-learn ")
    # what FLAML had is on record: its default learners, XGBoost's among them, and the build
    assert {"lgbm", "xgboost", "rf", "extra_tree"} <= set(flaml["learners"])
    libraries = flaml["libraries"]
    assert "FLAML 2." in libraries and ("CPU build" in libraries or "CUDA build" in libraries)
    assert report["threads"] == 1
    assert report["setups"]["flaml"]["learners"] == flaml["learners"]
    means = report["summary"]["systems"]
    assert max(means[s]["mean_normalized"] for s in ("aicc", "flaml")) == 1.0
    assert report["summary"]["ratios"]["aicc/flaml tables"] == 1

    saved_run = tmp_path / "automl.json"
    saved_run.write_text(done.stdout)
    table = subprocess.run(
        [sys.executable, str(SCRIPT), "--markdown", str(saved_run)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    row = next(line for line in table.splitlines() if line.startswith("| iris"))
    assert f"{aicc['score']:.3f} ({aicc['seconds']:.0f} s)" in row
    assert "mean normalized score" in table and "AICC / flaml:" in table
    assert "What each system had (1 thread each):" in table
    assert f"- flaml: {flaml['libraries']}; learners: lgbm" in table
