"""Which engine serves a model directory (`--engine auto`), from its files alone."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ENGINES = ("auto", "transformers", "predict", "vllm")
# Template formats whose model is a causal language model (lora-finetune's adapter): served
# as text (chat, completions, embeddings), not through their predict.py.
CAUSAL_FORMATS = frozenset({"peft-lora"})


class ChoiceError(Exception):
    """No engine fits; the message says what the directory lacks."""


def model_files(path: Path) -> Path:
    """Where the model's own files are: a template-trained model version keeps them under
    `model/`, beside its predict.py (`predict.py --model model`); any other directory is
    the model itself."""
    inner = path / "model"
    return inner if (path / "template.yaml").is_file() and inner.is_dir() else path


def engine_for(path: Path) -> str:
    """`predict` for a template's model (`template.yaml` and `predict.py`) unless the template
    makes a causal LM; `transformers` for a Hugging Face causal LM, a sequence classifier or a
    LoRA adapter; `vllm` only when asked for."""
    if not path.is_dir():
        raise ChoiceError(f"{path} is not a directory")
    manifest = path / "template.yaml"
    if manifest.is_file() and (path / "predict.py").is_file():
        doc = yaml.safe_load(manifest.read_text("utf-8")) or {}
        if doc.get("format") not in CAUSAL_FORMATS and doc.get("task") != "text-generation":
            return "predict"
    files = model_files(path)
    if (files / "adapter_config.json").is_file() or _architecture(
        files / "config.json", ("ForCausalLM", "LMHeadModel", "ForSequenceClassification")
    ):
        return "transformers"
    raise ChoiceError(
        f"{path} holds neither a template's model (template.yaml and predict.py), nor a "
        "Hugging Face causal language model or sequence classifier (config.json), nor a LoRA "
        "adapter (adapter_config.json); name the engine with --engine"
    )


def classifier(path: Path) -> bool:
    """Whether the model directory holds a sequence classifier (served as /v1/moderations)."""
    return _architecture(model_files(path) / "config.json", ("ForSequenceClassification",))


def _architecture(config: Path, endings: tuple[str, ...]) -> bool:
    if not config.is_file():
        return False
    architectures = json.loads(config.read_text("utf-8")).get("architectures") or []
    return any(str(a).endswith(endings) for a in architectures)
