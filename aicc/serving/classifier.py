"""A sequence-classification model (transformers `AutoModelForSequenceClassification`) served
as OpenAI's `POST /v1/moderations`: its labels (`id2label`) are the categories, each text's
scores the model's probabilities (softmax over the labels; sigmoid per label for a
multi-label model). The gateway's content safety asks such a deployment for its scores
(docs/gateway.md, "Content safety"), so tenant text is read by a model in a replica's sandbox,
never by the server.

A category is `flagged` here at a score of 0.5 or more, and a label that names the harmless
class (`NEUTRAL`: "safe", "neutral", ...) never is; the gateway applies its policy's own
threshold and labels to the scores."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .protocol import MAX_INPUTS, ApiError

FLAG_AT = 0.5
NEUTRAL = frozenset({"safe", "neutral", "ok", "clean", "benign", "normal", "none", "harmless"})


@dataclass
class ClassifierModel:
    """A loaded sequence classifier, its tokenizer and its labels in id order."""

    model: Any
    tokenizer: Any
    labels: tuple[str, ...]
    multi_label: bool
    context: int
    torch: Any = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> ClassifierModel:
        """Local files only: a replica has no network, and nothing is downloaded."""
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = "auto" if device == "cuda" else torch.float32
        model: Any = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True, dtype=dtype
        )
        model = model.to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        config = model.config
        labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))
        context = getattr(config, "max_position_embeddings", None) or 512
        multi = config.problem_type == "multi_label_classification"
        return cls(model, tokenizer, labels, multi, int(context), torch)

    def scores(self, text: str) -> tuple[dict[str, float], int]:
        """The text's score per label, and its token count (on the model's thread). A text
        longer than the model reads is cut to its first `context` tokens."""
        torch = self.torch
        ids = list(self.tokenizer(text).input_ids)[: self.context]
        with torch.inference_mode():
            tensor = torch.tensor([ids], device=self.model.device)
            logits = self.model(input_ids=tensor).logits[0].float()
            probs = torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)
        return {label: float(p) for label, p in zip(self.labels, probs.cpu(), strict=True)}, len(
            ids
        )


def texts(body: dict[str, Any], served: str) -> list[str]:
    """A moderation request's `input` (a string or a list of them), checked; `model` may be
    left out (OpenAI's default), else it must be the served name."""
    model = body.get("model")
    if model is not None and model != served:
        raise ApiError(
            f"the model {model!r} does not exist here; this server serves {served!r}",
            param="model",
            code="model_not_found",
        )
    value = body.get("input")
    found = [value] if isinstance(value, str) else value
    if not isinstance(found, list) or not found or not all(isinstance(t, str) for t in found):
        raise ApiError("input must be a string or a non-empty list of strings", param="input")
    if len(found) > MAX_INPUTS:
        raise ApiError(f"input takes at most {MAX_INPUTS} texts, not {len(found)}", param="input")
    return found


def answer(served: str, scored: list[dict[str, float]]) -> dict[str, Any]:
    """OpenAI's moderation answer: per text, whether flagged, and each category's verdict and
    score."""
    results = []
    for scores in scored:
        categories = {
            label: score >= FLAG_AT and label.lower() not in NEUTRAL
            for label, score in scores.items()
        }
        flagged = any(categories.values())
        results.append({"flagged": flagged, "categories": categories, "category_scores": scores})
    return {"id": f"modr-{uuid.uuid4().hex}", "model": served, "results": results}
