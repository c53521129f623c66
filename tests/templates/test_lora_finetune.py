"""The lora-finetune template: LoRA adapters on a tiny Llama built from the course's own Q&A
(nothing downloaded) learn to answer new wordings of its questions; predict.py answers them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "lora-finetune"


def test_fine_tunes_on_its_example_and_answers_questions(tmp_path: Path) -> None:
    manifest = templates.manifest(NAME)
    trained = templates.train_example(NAME, tmp_path)
    print(f"{NAME}: {trained.seconds:.1f} s, {trained.metrics}")

    loss = trained.metrics[manifest.metric.name]
    assert core.reached(manifest.metric, loss)
    assert loss < trained.metrics["untrained_eval_loss"] / 10
    assert [p["step"] for p in trained.curve] == list(
        range(1, manifest.hyperparameters["epochs"].default + 1)
    )
    model = {p.name for p in trained.model.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "base"} <= model
    assert "LoRA" in trained.report["summary"]["en"]
    assert "微调" in trained.report["summary"]["zh-CN"]

    rows = [json.loads(line) for line in (tmp_path / "example" / "qa.jsonl").open()][:8]
    asked = tmp_path / "questions.jsonl"
    asked.write_text(
        "".join(json.dumps({"question": r["question"]}, ensure_ascii=False) + "\n" for r in rows)
    )
    out = templates.predict(NAME, trained.model, asked, tmp_path / "answers.jsonl")
    answers = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [a["question"] for a in answers] == [r["question"] for r in rows]
    right = sum(a["answer"] == r["answer"] for a, r in zip(answers, rows, strict=True))
    assert right >= 6, answers


def test_bounds() -> None:
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.lora_r"):
        core.check_params(templates.manifest(NAME), {"lora_r": 0})
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.epochs"):
        core.check_params(templates.manifest(NAME), {"epochs": "many"})
