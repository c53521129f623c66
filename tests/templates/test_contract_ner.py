"""The contract element tagger (aicc/templates/contract-ner) trained on its example as a job
trains it, then used as a downloaded model is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.templates import aicc_template
from aicc.testing import templates

NAME = "contract-ner"
TYPES = {"PARTY", "DATE", "AMOUNT", "LOCATION"}


def test_trains_on_its_example_and_finds_entities_in_new_sentences(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)

    assert core.reached(manifest.metric, trained.metrics[manifest.metric.name])
    assert [p["step"] for p in trained.curve] == list(range(1, 6))
    assert trained.curve[-1]["loss"] < trained.curve[0]["loss"]
    assert {p.name for p in trained.model.iterdir()} == {"model.safetensors", "config.json"}
    assert trained.report["per_type_f1"].keys() == TYPES
    assert "F1" in trained.report["summary"]["en"]
    assert "实体" in trained.report["summary"]["zh-CN"]

    example = aicc_template.read_table(tmp_path / "example" / "clauses.jsonl")
    sentences = tmp_path / "new.jsonl"
    sentences.write_text(
        "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in example["text"][:40]),
        encoding="utf-8",
    )
    out = templates.predict(NAME, trained.model, sentences, tmp_path / "found.jsonl")
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in rows] == example["text"][:40]
    found = [(e["start"], e["end"], e["type"]) for r in rows for e in r["entities"]]
    assert {t for _, _, t in found} <= TYPES
    assert all(r["text"][e["start"] : e["end"]] == e["text"] for r in rows for e in r["entities"])
    labelled = {
        (i, s, e, t)
        for i, spans in enumerate(example["entities"][:40])
        for s, e, t in json.loads(spans)
    }
    got = {(i, e["start"], e["end"], e["type"]) for i, r in enumerate(rows) for e in r["entities"]}
    assert len(labelled & got) >= 0.85 * len(labelled)


def test_epochs_set_the_curve_and_a_bad_value_is_named(tmp_path: Path) -> None:
    trained = templates.train_example(NAME, tmp_path, {"epochs": 1})
    assert [p["step"] for p in trained.curve] == [1]
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.hidden: 0 is below"):
        core.check_params(templates.manifest(NAME), {"hidden": 0})
