"""Finds the parties, dates, amounts and places in new contract sentences: a JSON lines (or CSV)
table with a `text` column in, JSON lines out, one row per input row: `text` and `entities`, a
list of {start, end, type, text} (end exclusive). Also the tagger's definition and the BIO
decoding, which train.py imports, so both read text the same way."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aicc_template
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, UNKNOWN = 0, 1


class Tagger(nn.Module):
    """Character vectors, a bidirectional LSTM that reads each character in its context both
    ways, and a linear layer to the BIO tags (B-PARTY, I-PARTY, ..., O)."""

    def __init__(self, vocab: int, tags: int, embedding_dim: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(2 * hidden, tags)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(
            self.embed(ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        hidden, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True)
        return self.out(self.drop(hidden))


def encode(texts: list[str], index: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Character ids padded to the longest text, and each text's length (at least 1)."""
    lengths = torch.tensor([max(1, len(t)) for t in texts])
    ids = torch.full((len(texts), int(lengths.max()) if texts else 1), PAD, dtype=torch.long)
    for row, text in enumerate(texts):
        if text:
            ids[row, : len(text)] = torch.tensor([index.get(c, UNKNOWN) for c in text])
    return ids, lengths


def spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of each entity a BIO tag sequence marks; an I- without its B- starts
    one, as a tagger's near miss is still a find."""
    found: list[tuple[int, int, str]] = []
    start, kind = -1, ""
    for at, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == kind
        if start >= 0 and not inside:
            found.append((start, at, kind))
            start, kind = -1, ""
        if tag.startswith("B-") or (tag.startswith("I-") and not inside):
            start, kind = at, tag[2:]
    return found


def threads(wanted: int = 1) -> None:
    """CPU threads, at most the job's CPUs: a network this small runs fastest on one (two
    threads on two busy cores ran it several times slower), a larger one gains from more."""
    torch.set_num_threads(max(1, min(wanted, len(os.sched_getaffinity(0)))))


def tag(net: Tagger, texts: list[str], config: dict[str, Any]) -> list[list[tuple[int, int, str]]]:
    """Each text's entities."""
    index = {c: i for i, c in enumerate(config["vocab"])}
    found = []
    net.eval()
    with torch.no_grad():
        for at in range(0, len(texts), 128):
            chunk = texts[at : at + 128]
            ids, lengths = encode(chunk, index)
            device = next(net.parameters()).device
            best = net(ids.to(device), lengths.to(device)).argmax(2).tolist()
            for text, row in zip(chunk, best, strict=True):
                found.append(spans([config["tags"][t] for t in row[: len(text)]]))
    return found


def main() -> None:
    args = aicc_template.predict_args()
    threads()
    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    net = Tagger(
        len(config["vocab"]), len(config["tags"]), config["embedding_dim"], config["hidden"]
    )
    net.load_state_dict(load_file(Path(args.model) / "model.safetensors"))
    texts = ["" if t is None else str(t) for t in aicc_template.read_table(args.input)["text"]]
    rows = [
        {
            "text": text,
            "entities": [
                {"start": s, "end": e, "type": k, "text": text[s:e]} for s, e, k in entities
            ],
        }
        for text, entities in zip(texts, tag(net, texts, config), strict=True)
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix.lower() in (".csv", ".parquet"):
        aicc_template.write_table(
            args.output,
            {
                "text": texts,
                "entities": [json.dumps(r["entities"], ensure_ascii=False) for r in rows],
            },
        )
        return
    with open(args.output, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
