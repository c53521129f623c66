"""The table-prediction template: any table, any column to predict. Trained on its example and
on tables a user could bring (scikit-learn's bundled breast cancer and diabetes tables, written
as CSV with the mess of real exports: dates as `2010/01/01 00:00`, gaps, a category, an ID, a
copy of the answer), it decides classification or regression from the target, leaves out what
would mislead it and says why, beats the naive baseline, and its predict.py answers in the
user's own columns."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from aicc.core import templates as core
from aicc.testing import templates

NAME = "table-prediction"
FAST = {"time_budget_s": 5}


def write_csv(path: Path, columns: dict[str, list[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(list(columns))
        for row in zip(*columns.values(), strict=True):
            writer.writerow(["" if v is None else v for v in row])
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def messy(features: dict[str, list[Any]], rng: np.random.Generator) -> dict[str, list[Any]]:
    """A user's export around `features`: a row number first, a time as `2010/01/01 00:00`, a
    category, and a tenth of the first feature's cells empty."""
    n = len(next(iter(features.values())))
    start = datetime(2010, 1, 1)
    first = next(iter(features))
    gaps = rng.random(n) < 0.1
    return {
        "id": [1000 + i for i in range(n)],
        "visit": [(start + timedelta(hours=7 * i)).strftime("%Y/%m/%d %H:%M") for i in range(n)],
        "clinic": [str(c) for c in rng.choice(["north", "south", "east"], n)],
        **features,
        first: [None if g else v for g, v in zip(gaps, features[first], strict=True)],
    }


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("tp"), {"time_budget_s": 6})


def test_the_example_trains_to_its_expected_score_and_says_what_it_learned(
    example: templates.Trained,
) -> None:
    manifest = templates.manifest(NAME)
    assert manifest.task == "tabular-prediction" and manifest.input.rest == "features"
    assert core.reached(manifest.metric, example.metrics["score"])
    assert example.metrics["score"] == example.metrics["accuracy"]
    assert example.metrics["score"] > example.metrics["baseline"] + 0.2
    assert {"balanced_accuracy", "f1_macro", "log_loss"} <= set(example.metrics)
    facts = example.report["facts"]
    assert facts["task"] == "classification" and facts["target"] == "target"
    assert facts["rows"] == 1200 and facts["metric"] == "accuracy"
    assert facts["baseline"] < facts["score"]
    assert [d["column"] for d in facts["dropped"]] == ["id"]
    assert all(d["why"]["en"] and d["why"]["zh-CN"] for d in facts["dropped"])
    kinds = {i["column"]: i["kind"] for i in facts["inputs"]}
    assert kinds["date"] == "datetime" and kinds["shift_note"] == "text"
    assert kinds["supplier"] == "category" and kinds["overtime"] == "boolean"
    # the search shows on the curves: a point per candidate tried
    assert example.curve and all("cv_score" in p for p in example.curve)
    assert len(example.curve) == len(facts["candidates"])
    charts = example.report["charts"]
    assert charts["confusion"]["labels"] == ["good", "minor_defects", "rework"]
    assert sum(map(sum, charts["confusion"]["matrix"])) == facts["rows_test"]
    top = [i["feature"] for i in charts["importance"][:3]]
    assert "hours_since_maintenance" in top
    assert (
        "good" in example.report["summary"]["en"] and "准确率" in example.report["summary"]["zh-CN"]
    )


def test_the_schema_speaks_the_users_columns(example: templates.Trained) -> None:
    schema = json.loads((example.model / "schema.json").read_text())
    assert schema["task"] == "classification" and schema["target"] == "target"
    assert schema["classes"] == ["good", "minor_defects", "rework"]
    inputs = {i["name"]: i for i in schema["inputs"]}
    assert "id" not in inputs and "target" not in inputs
    assert inputs["supplier"]["type"] == "category"
    assert inputs["supplier"]["values"] == ["Beigang", "Dongfang", "Huaxin", "Zhenyu"]
    assert inputs["date"] == {
        "name": "date",
        "type": "datetime",
        "required": True,
        "example": "2021/01/04",
    }
    assert inputs["humidity_pct"]["required"] is False  # it has gaps
    assert inputs["temperature_c"]["min"] < inputs["temperature_c"]["max"]
    assert [o["name"] for o in schema["outputs"]] == [
        "target_predicted",
        "probability_good",
        "probability_minor_defects",
        "probability_rework",
    ]


def test_predict_takes_the_users_rows_as_they_come(
    example: templates.Trained, tmp_path: Path
) -> None:
    rows = read_csv(example.output.parent.parent / "example" / "factory_days.csv")[:30]
    for i, row in enumerate(rows):
        del row["temperature_c"]  # a column the rows lack
        row["comment"] = f"kept {i}"  # a column the model does not know
    rows[0]["supplier"] = "Never-seen Ltd"  # a category it never saw
    rows[1]["humidity_pct"] = "n/a"  # text in a number column
    rows[2]["date"] = "someday"  # a date it cannot read
    new = tmp_path / "new.csv"
    write_csv(new, {k: [r[k] for r in rows] for k in rows[0]})
    out = read_csv(templates.predict(NAME, example.model, new, tmp_path / "out.csv"))
    assert [r["comment"] for r in out] == [f"kept {i}" for i in range(30)]
    assert "target" not in out[0]  # the answer, if sent, is not passed back as if it were one
    assert {r["target_predicted"] for r in out} <= {"good", "minor_defects", "rework"}
    for r in out:
        total = sum(float(r[f"probability_{c}"]) for c in ("good", "minor_defects", "rework"))
        assert total == pytest.approx(1, abs=1e-3)
    right = sum(r["target_predicted"] == row["target"] for r, row in zip(out, rows, strict=True))
    assert right >= 18

    one = tmp_path / "one.jsonl"  # as the deployment's /predict hands rows over
    one.write_text(json.dumps({"line": "B", "hours_since_maintenance": 400}) + "\n")
    answer = templates.predict(NAME, example.model, one, tmp_path / "one-out.jsonl")
    (row,) = [json.loads(line) for line in answer.read_text().splitlines()]
    assert row["line"] == "B" and row["target_predicted"] in ("good", "minor_defects", "rework")

    empty = write_csv(tmp_path / "empty.csv", {"line": [], "supplier": []})
    none = read_csv(templates.predict(NAME, example.model, empty, tmp_path / "none.csv"))
    assert none == []
    header = (tmp_path / "none.csv").read_text().splitlines()[0]
    assert "target_predicted" in header


def test_a_binary_target_with_dates_an_id_and_a_leak(tmp_path: Path) -> None:
    data = load_breast_cancer()
    rng = np.random.default_rng(0)
    names = ["mean radius", "mean texture", "mean concavity", "worst area", "worst smoothness"]
    features = {n: data.data[:, list(data.feature_names).index(n)].round(4).tolist() for n in names}
    table = messy(features, rng)
    table["diagnosis"] = ["benign" if y else "malignant" for y in data.target]  # a leak
    table["outcome"] = data.target.tolist()
    write_csv(tmp_path / "data" / "patients.csv", table)
    got = templates.train(
        NAME, tmp_path / "data", tmp_path / "run", FAST, columns={"target": "outcome"}
    )
    facts = got.report["facts"]
    assert facts["task"] == "classification" and facts["target"] == "outcome"
    dropped = {d["column"]: d["why"]["en"] for d in facts["dropped"]}
    assert set(dropped) == {"id", "diagnosis"}
    assert "target" in dropped["diagnosis"] and "identifier" in dropped["id"]
    kinds = {i["column"]: i["kind"] for i in facts["inputs"]}
    assert kinds["visit"] == "datetime" and kinds["clinic"] == "category"
    assert got.metrics["score"] > 0.88 > got.metrics["baseline"]
    assert got.metrics["auc"] > 0.93
    schema = json.loads((got.model / "schema.json").read_text())
    assert schema["classes"] == [0, 1]
    assert schema["inputs"][0]["example"] == "2010/01/01 00:00"


def test_a_numeric_target_is_a_regression_with_copies_of_it_left_out(tmp_path: Path) -> None:
    data = load_diabetes(scaled=False)
    rng = np.random.default_rng(1)
    features = {n: data.data[:, i].round(4).tolist() for i, n in enumerate(data.feature_names)}
    table = messy(features, rng)
    table["progression"] = data.target.tolist()
    table["progression_again"] = data.target.tolist()  # a copy
    table["progression_in_hundreds"] = (data.target / 100).round(6).tolist()  # a relabeling
    write_csv(tmp_path / "data" / "diabetes.csv", table)
    columns = {"target": "progression"}
    got = templates.train(NAME, tmp_path / "data", tmp_path / "run", FAST, columns=columns)
    facts = got.report["facts"]
    assert facts["task"] == "regression" and facts["metric"] == "r2"
    assert {d["column"] for d in facts["dropped"]} == {
        "id",
        "progression_again",
        "progression_in_hundreds",
    }
    assert got.metrics["score"] == got.metrics["r2"] > 0.25 > got.metrics["baseline"]
    assert got.metrics["mae"] < 55 and got.metrics["rmse"] >= got.metrics["mae"]
    residuals = got.report["charts"]["residuals"]
    assert len(residuals["actual"]) == len(residuals["predicted"]) == facts["rows_test"]
    assert "R²" in got.report["summary"]["en"] and "平均值" in got.report["summary"]["zh-CN"]
    schema = json.loads((got.model / "schema.json").read_text())
    assert "classes" not in schema
    assert schema["outputs"] == [{"name": "progression_predicted", "type": "number"}]


def test_too_few_rows_or_no_column_chosen_is_said_plainly(tmp_path: Path) -> None:
    small = {
        "size": list(range(20)),
        "kind": ["a", "b"] * 10,
        "price": [1.5 * i for i in range(20)],
    }
    write_csv(tmp_path / "small" / "t.csv", small)
    said = templates.refused(NAME, tmp_path / "small", tmp_path / "r1", columns={"target": "kind"})
    assert "only 20 rows" in said and "at least 30" in said
    said = templates.refused(NAME, tmp_path / "small", tmp_path / "r2")
    assert "choose the column to predict: --column target=COLUMN" in said
    assert "size, kind, price" in said
