"""The lora-finetune template: LoRA adapters on a tiny Llama built from the course's own Q&A
(nothing downloaded) learn to answer new wordings of its questions; predict.py answers them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aicc.core import templates as core
from aicc.testing import templates

NAME = "lora-finetune"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> templates.Trained:
    return templates.train_example(NAME, tmp_path_factory.mktemp("lora"))


def test_fine_tunes_on_its_example_and_answers_questions(
    trained: templates.Trained, tmp_path: Path
) -> None:
    manifest = templates.manifest(NAME)
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

    example = trained.output.parent.parent / "example" / "qa.jsonl"
    rows = [json.loads(line) for line in example.open(encoding="utf-8")][:8]
    asked = tmp_path / "questions.jsonl"
    asked.write_text(
        "".join(json.dumps({"question": r["question"]}, ensure_ascii=False) + "\n" for r in rows)
    )
    out = templates.predict(NAME, trained.model, asked, tmp_path / "answers.jsonl")
    answers = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [a["question"] for a in answers] == [r["question"] for r in rows]
    right = sum(a["answer"] == r["answer"] for a, r in zip(answers, rows, strict=True))
    assert right >= 6, answers


def test_a_local_hugging_face_model_is_the_base(trained: templates.Trained, tmp_path: Path) -> None:
    """A model directory the job mounts (here: the tiny base and its tokenizer, saved as
    Hugging Face saves them) is fine-tuned in place of `tiny`; one epoch logs one point."""
    base = tmp_path / "mounted-model"
    shutil.copytree(trained.model / "base", base)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(trained.model / name, base / name)
    data = trained.output.parent.parent / "example"
    tuned = templates.train(NAME, data, tmp_path / "run", {"base_model": str(base), "epochs": 1})

    assert [p["step"] for p in tuned.curve] == [1]
    assert tuned.metrics["eval_loss"] < tuned.metrics["untrained_eval_loss"]
    assert not (tuned.model / "base").exists()
    assert json.loads((tuned.model / "aicc.json").read_text())["base_model"] == str(base)
    asked = tmp_path / "q.jsonl"
    asked.write_text('{"question": "什么是过拟合？"}\n{"question": "学习率是什么？"}\n')
    out = templates.predict(NAME, tuned.model, asked, tmp_path / "a.jsonl")
    assert len(out.read_text("utf-8").splitlines()) == 2


def test_bounds() -> None:
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.lora_r"):
        core.check_params(templates.manifest(NAME), {"lora_r": 0})
    with pytest.raises(core.TemplateError, match=r"hyperparameters\.epochs"):
        core.check_params(templates.manifest(NAME), {"epochs": "many"})
