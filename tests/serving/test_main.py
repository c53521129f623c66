"""The program's choices before it serves: which engine `auto` picks from a directory's files,
what it says when none fits or vLLM is missing, and readiness: 503 until the model is loaded."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from aicc.serving.choose import ChoiceError, engine_for
from aicc.testing import serving, templates


def template_model(dest: Path, template: str) -> Path:
    """The files a template's model version holds that `auto` reads (no trained weights)."""
    dest.mkdir(parents=True)
    for name in ("template.yaml", "predict.py"):
        shutil.copy(templates.ROOT / template / name, dest / name)
    return dest


def test_auto_picks_the_engine_from_the_files(tmp_path: Path) -> None:
    assert engine_for(template_model(tmp_path / "credit", "credit-risk")) == "predict"
    assert engine_for(template_model(tmp_path / "routing", "delivery-routing")) == "predict"
    lora = template_model(tmp_path / "lora", "lora-finetune")
    (lora / "adapter_config.json").write_text("{}")
    assert engine_for(lora) == "transformers"  # format peft-lora: a causal LM, not predict.py

    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"]}))
    assert engine_for(llm) == "transformers"

    classifier = tmp_path / "bert"  # a sequence classifier: served as /v1/moderations
    classifier.mkdir()
    classifier_config = {"architectures": ["BertForSequenceClassification"]}
    (classifier / "config.json").write_text(json.dumps(classifier_config))
    assert engine_for(classifier) == "transformers"

    vision = tmp_path / "vit"
    vision.mkdir()
    (vision / "config.json").write_text(json.dumps({"architectures": ["ViTModel"]}))
    with pytest.raises(ChoiceError, match="--engine"):
        engine_for(vision)


def test_no_engine_fits_is_a_clear_exit(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    replica = serving.start(tmp_path / "empty", tmp_path / "replica")
    assert replica.process.wait(timeout=60) == 2
    assert "neither a template's model" in replica.log()


def test_vllm_without_vllm_says_so(tmp_path: Path) -> None:
    if importlib.util.find_spec("vllm"):
        pytest.skip("vLLM is installed here: its refusal is what this checks")
    llm = tmp_path / "llm"
    llm.mkdir()
    (llm / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    replica = serving.start(llm, tmp_path / "replica", engine="vllm")
    assert replica.process.wait(timeout=60) == 2
    assert "needs vLLM, which is not installed" in replica.log()


GATED_PREDICT = '''"""A tenant's model whose loading waits for a file `gate` beside it."""
import json, pathlib, sys, time

here = pathlib.Path(__file__).parent
while not (here / "gate").exists():
    time.sleep(0.05)


def main():
    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    mean = json.loads((pathlib.Path(args["--model"]) / "mean.json").read_text())["mean"]
    rows = [json.loads(line) for line in open(args["--input"])]
    with open(args["--output"], "w") as out:
        for row in rows:
            out.write(json.dumps({"y": mean + row["x"]}) + "\\n")


if __name__ == "__main__":
    main()
'''


def test_health_is_503_while_loading_then_200(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    files = templates.own("offset")
    (model / "template.yaml").write_text(files["template.yaml"])
    (model / "predict.py").write_text(GATED_PREDICT)
    (model / "mean.json").write_text(json.dumps({"mean": 2.5}))

    replica = serving.start(model, tmp_path / "replica", name="offset")
    try:
        health = None
        for _ in range(600):
            try:
                health = httpx.get(replica.url + "/health", timeout=2)
                break
            except httpx.HTTPError:
                assert replica.process.poll() is None, replica.log()
                time.sleep(0.1)
        assert health is not None and health.status_code == 503
        assert health.json() == {"status": "loading"}
        early = httpx.post(replica.url + "/predict", json={"rows": [{"x": 1}]})
        assert early.status_code == 503 and early.json()["error"]["code"] == "loading"

        (model / "gate").touch()
        serving.wait_ready(replica, timeout=60)
        answer = httpx.post(replica.url + "/predict", json={"rows": [{"x": 1}, {"x": -2}]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == [{"y": 3.5}, {"y": 0.5}]
    finally:
        serving.stop(replica)
