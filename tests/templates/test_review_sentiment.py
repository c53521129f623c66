"""The review sentiment network (aicc/templates/review-sentiment) trained on its example as a
job trains it, then used as a downloaded model is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.templates import aicc_template
from aicc.testing import templates

NAME = "review-sentiment"


def test_trains_on_its_example_and_reads_new_reviews(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)

    assert core.reached(manifest.metric, trained.metrics[manifest.metric.name])
    assert [p["step"] for p in trained.curve] == list(range(1, 7))
    assert trained.curve[-1]["loss"] < trained.curve[0]["loss"]
    assert {p.name for p in trained.model.iterdir()} == {"model.safetensors", "config.json"}
    assert trained.report["classes"].keys() == {"negative", "neutral", "positive"}
    assert "held-out" in trained.report["summary"]["en"]
    assert "准确率" in trained.report["summary"]["zh-CN"]

    example = aicc_template.read_table(tmp_path / "example" / "reviews.csv")
    reviews = tmp_path / "new.csv"
    aicc_template.write_table(reviews, {"text": example["text"][:50]})
    out = templates.predict(NAME, trained.model, reviews, tmp_path / "read.jsonl")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == example["text"][:50]
    assert {r["label"] for r in rows} <= {"negative", "neutral", "positive"}
    assert all(1 / 3 <= r["score"] <= 1 for r in rows)
    right = sum(r["label"] == y for r, y in zip(rows, example["label"][:50], strict=True))
    assert right >= 42


def test_epochs_set_the_curve_and_a_bad_value_is_named(tmp_path: Path) -> None:
    trained = templates.train_example(NAME, tmp_path, {"epochs": 1})
    assert [p["step"] for p in trained.curve] == [1]
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.learning_rate: 2\.0 is above"):
        core.check_params(templates.manifest(NAME), {"learning_rate": 2})
