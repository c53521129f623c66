"""What a model version says of itself, read from what its job wrote (issue 37): the input
schema in the user's columns, the facts and charts of its card, each kept only when it is what
it claims, with a note saying why otherwise; and the card that tells those facts in English and
Chinese, with no template's wording."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aicc.executors import jobfiles
from aicc.services.models import model_reports, template_outputs, templates
from aicc.testing.templates import manifest

SCHEMA: dict[str, Any] = {
    "task": "classification",
    "target": "weather",
    "inputs": [
        {"name": "temp_max", "type": "number", "required": True, "example": 12.5, "min": -3.2},
        {"name": "wind", "type": "category", "required": False, "values": ["calm", "gale"]},
        {"name": "date", "type": "datetime", "example": "2012/01/01"},
    ],
    "outputs": [
        {"name": "weather_predicted", "type": "category"},
        {"name": "probability_rain", "type": "number"},
    ],
    "classes": ["rain", "sun"],
}
FACTS: dict[str, Any] = {
    "rows": 1461,
    "target": "weather",
    "task": "classification",
    "frequency": None,
    "metric": "accuracy",
    "score": 0.83,
    "baseline": 0.44,
    "baseline_name": {"en": "always the most common class", "zh-CN": "总是预测最常见的类别"},
    "model": "HistGradientBoostingClassifier",
    "dropped": [{"column": "id", "why": {"en": "an ID, one per row", "zh-CN": "每行一个的编号"}}],
}


def outputs(tmp_path: Path, schema: bytes | None = None) -> jobfiles.JobFiles:
    (tmp_path / "model").mkdir(exist_ok=True)
    if schema is not None:
        (tmp_path / "model" / "schema.json").write_bytes(schema)
    return jobfiles.JobFiles(tmp_path)


def test_a_schema_and_facts_a_job_wrote_are_kept_in_the_users_names(tmp_path: Path) -> None:
    charts = {
        "confusion": {"labels": ["rain", "sun"], "matrix": [[10, 2], [3, 40]]},
        "importance": [{"feature": "temp_max", "importance": 0.21}],
        "residuals": {"actual": [1.0, float("nan")], "predicted": [1.5, 2.0]},
    }
    found = model_reports.describe(
        outputs(tmp_path, json.dumps(SCHEMA).encode()), {"facts": FACTS, "charts": charts}
    )
    assert found.notes == []
    assert found.input_schema is not None
    assert [i["name"] for i in found.input_schema["inputs"]] == ["temp_max", "wind", "date"]
    assert found.input_schema["inputs"][1]["values"] == ["calm", "gale"]
    assert found.input_schema["classes"] == ["rain", "sun"]
    assert found.facts is not None and found.facts["score"] == 0.83
    assert found.facts["dropped"][0]["why"]["zh-CN"] == "每行一个的编号"
    assert found.charts is not None
    assert found.charts["confusion"]["matrix"] == [[10, 2], [3, 40]]
    assert found.charts["residuals"]["actual"] == [1.0, None]  # a NaN is a gap, not bad JSON


def test_a_hostile_schema_is_left_out_with_why(tmp_path: Path) -> None:
    cases = {
        "huge": b"[" + b"0," * (model_reports.MAX_SCHEMA_BYTES) + b"0]",
        "not json": b"\xff\xfe not json at all",
        "a list": b"[1, 2]",
        "unknown type": json.dumps(
            {"task": "classification", "inputs": [{"name": "x", "type": "tensor"}]}
        ).encode(),
        "too many values": json.dumps(
            {
                "task": "classification",
                "inputs": [{"name": "x", "type": "category", "values": list(range(51))}],
            }
        ).encode(),
    }
    said = {}
    for case, data in cases.items():
        root = tmp_path / case.replace(" ", "-")
        root.mkdir()
        found = model_reports.describe(outputs(root, data), {})
        assert found.input_schema is None, case
        (said[case],) = found.notes
        assert said[case].startswith("model/schema.json: left out, "), said[case]
    assert "more than the 1048576 a file" in said["huge"]
    assert "it is not JSON" in said["not json"]
    assert "no JSON object" in said["a list"]
    assert "inputs.0.type" in said["unknown type"]
    assert "inputs.0.values" in said["too many values"]

    link = tmp_path / "link"
    (link / "model").mkdir(parents=True)
    (link / "model" / "schema.json").symlink_to(tmp_path / "huge" / "model" / "schema.json")
    found = model_reports.describe(jobfiles.JobFiles(link), {})
    assert found.input_schema is None
    assert found.notes == [f"model/schema.json: left out, outputs/model/schema.json {LINK}"]

    fifo = tmp_path / "fifo"
    (fifo / "model").mkdir(parents=True)
    os.mkfifo(fifo / "model" / "schema.json")
    found = model_reports.describe(jobfiles.JobFiles(fifo), {})  # never blocks on the FIFO
    assert found.input_schema is None and "is a FIFO" in found.notes[0]


LINK = "is a symbolic link: a job's outputs may hold only regular files and folders"


def test_charts_over_their_size_are_left_out_each_alone(tmp_path: Path) -> None:
    labels = [f"c{i}" for i in range(51)]
    charts = {
        "confusion": {"labels": labels, "matrix": [[0] * 51 for _ in labels]},
        "residuals": {"actual": [0.0] * 501, "predicted": [0.0] * 501},
        "forecast": {
            "time": ["2012-12-01", "2012-12-02"],
            "actual": [1.0, 2.0],
            "predicted": [1.5, 2.5],
            "lower": [1.0, 2.0],
            "upper": [2.0, 3.0],
        },
        "importance": "not a list",
    }
    found = model_reports.describe(outputs(tmp_path), {"charts": charts, "facts": "none"})
    assert found.charts is not None and set(found.charts) == {"forecast"}
    assert found.facts is None
    joined = " | ".join(found.notes)
    assert "chart confusion: left out, confusion.labels" in joined
    assert "chart residuals: left out, residuals.actual" in joined
    assert "chart importance: left out" in joined
    assert "report.json facts: left out, it is no JSON object" in joined


def test_an_industry_templates_model_gets_its_manifests_columns(tmp_path: Path) -> None:
    found = model_reports.describe(outputs(tmp_path), {}, manifest("credit-risk"))
    assert found.notes == [] and found.input_schema is not None
    inputs = {i["name"]: i for i in found.input_schema["inputs"]}
    assert inputs["age"]["type"] == "number" and inputs["region"]["type"] == "category"
    assert not any(i["required"] for i in inputs.values())  # the manifest names no outcome
    assert found.input_schema["derived"] is True
    generic = model_reports.describe(outputs(tmp_path), {}, manifest("table-prediction"))
    assert generic.input_schema is None  # its columns are roles: its run must say its own
    assert generic.notes == [
        "model/schema.json: the job wrote none, so what the model takes is not known"
    ]
    photos = model_reports.describe(outputs(tmp_path), {}, manifest("defect-inspection"))
    assert photos.input_schema is not None
    assert photos.input_schema["inputs"] == [{"name": "image", "type": "image", "required": True}]


def test_the_card_tells_the_facts_in_both_languages_and_no_templates_wording(
    tmp_path: Path,
) -> None:
    found = model_reports.describe(outputs(tmp_path, json.dumps(SCHEMA).encode()), {"facts": FACTS})
    template = templates.get("credit-risk")
    report = {"summary": {"en": "Predicts weather from the day.", "zh-CN": "根据当天预测天气。"}}
    card = template_outputs.card(template, report, {"accuracy": 0.83}, {"job_id": "job_1"}, found)
    assert "Learned from 1,461 rows to predict `weather` (classification)." in card
    assert "从 1,461 行数据学习预测 `weather`（分类）。" in card
    assert "Held-out accuracy: 0.83; always the most common class: 0.44." in card
    assert "总是预测最常见的类别：0.44" in card
    assert "Left out `id`: an ID, one per row / 未使用 `id`：每行一个的编号" in card
    assert "- `wind`: category (optional / 可选)" in card
    assert "Predicts weather from the day." in card
    assert "default" not in card.split("## Metrics")[0]  # nothing of a loan's wording
