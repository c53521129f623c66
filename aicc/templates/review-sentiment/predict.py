"""Reads the sentiment of new reviews: a CSV or JSON lines table with a `text` column in,
`text,label,score` out (CSV, or JSON lines when the output's name ends in .jsonl), one row per
input row. Also the model's definition, which train.py imports, so both read text the same way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aicc_template
import torch
from safetensors.torch import load_file
from torch import nn

PAD, UNKNOWN = 0, 1


class Net(nn.Module):
    """Character vectors, a convolution over runs of three characters, the strongest response
    of each filter anywhere in the text, and a linear layer to the classes."""

    def __init__(self, vocab: int, classes: int, embedding_dim: int, channels: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding_dim, padding_idx=PAD)
        self.conv = nn.Conv1d(embedding_dim, channels, kernel_size=3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(channels, classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv(self.embed(ids).transpose(1, 2)))
        hidden = hidden.masked_fill((ids == PAD).unsqueeze(1), float("-inf")).amax(dim=2)
        return self.out(self.drop(hidden.clamp(min=0)))


def encode(texts: list[str], index: dict[str, int], length: int) -> torch.Tensor:
    """Each text as `length` character ids (cut, or padded), unknown characters as UNKNOWN."""
    ids = torch.full((len(texts), length), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        chars = [index.get(c, UNKNOWN) for c in text[:length]] or [UNKNOWN]
        ids[row, : len(chars)] = torch.tensor(chars)
    return ids


def threads(wanted: int = 1) -> None:
    """CPU threads, at most the job's CPUs: a network this small runs fastest on one (two
    threads on two busy cores ran it three times slower), a larger one gains from more."""
    torch.set_num_threads(max(1, min(wanted, len(os.sched_getaffinity(0)))))


def load(model: Path) -> tuple[Net, dict[str, Any]]:
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    net = Net(
        len(config["vocab"]), len(config["classes"]), config["embedding_dim"], config["channels"]
    )
    net.load_state_dict(load_file(model / "model.safetensors"))
    return net.eval(), config


def main() -> None:
    args = aicc_template.predict_args()
    threads()
    net, config = load(args.model)
    index = {c: i for i, c in enumerate(config["vocab"])}
    texts = ["" if t is None else str(t) for t in aicc_template.read_table(args.input)["text"]]
    labels: list[str] = []
    scores: list[float] = []
    with torch.no_grad():
        for at in range(0, len(texts), 256):
            probs = net(encode(texts[at : at + 256], index, config["max_length"])).softmax(1)
            best = probs.max(dim=1)
            labels += [config["classes"][i] for i in best.indices.tolist()]
            scores += [round(s, 4) for s in best.values.tolist()]
    aicc_template.write_output(args.output, {"text": texts, "label": labels, "score": scores})


if __name__ == "__main__":
    main()
