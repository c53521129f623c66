"""The 12345 hotline router (aicc/templates/hotline-classification) trained on its example as a
job trains it, then used as a downloaded model is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.templates import aicc_template
from aicc.testing import templates

NAME = "hotline-classification"


def test_trains_on_its_example_and_routes_new_tickets(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)

    assert core.reached(manifest.metric, trained.metrics[manifest.metric.name])
    assert [p["step"] for p in trained.curve] == list(range(1, 16))
    assert trained.curve[-1]["loss"] < trained.curve[0]["loss"]
    assert any(trained.model.iterdir())
    assert "departments" in trained.report["summary"]["en"]
    assert "承办部门" in trained.report["summary"]["zh-CN"]

    example = aicc_template.read_table(tmp_path / "example" / "tickets.csv")
    tickets = tmp_path / "new.jsonl"
    tickets.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in example["text"][:40]),
        encoding="utf-8",
    )
    out = templates.predict(NAME, trained.model, tickets, tmp_path / "routed.csv")
    routed = aicc_template.read_table(out)
    assert routed["text"] == example["text"][:40]
    assert set(routed["label"]) <= set(example["label"])
    assert all(0 < s <= 1 for s in routed["score"])
    right = sum(a == b for a, b in zip(routed["label"], example["label"][:40], strict=True))
    assert right >= 34


def test_epochs_set_the_curve_and_a_bad_value_is_named(tmp_path: Path) -> None:
    trained = templates.train_example(NAME, tmp_path, {"epochs": 2, "ngram_max": 1})
    assert [p["step"] for p in trained.curve] == [1, 2]
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.ngram_max: 9 is above"):
        core.check_params(templates.manifest(NAME), {"ngram_max": 9})
