"""Trains the contract tagger (predict.py's `Tagger`) on BIO tags made from the labelled spans,
logging the loss and the held-out entity F1 each epoch; saves the weights as safetensors and
the vocabulary and tags as config.json. Entity F1: a found entity counts only when its start,
end and type all match a labelled one (micro-averaged over all entities)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import aicc_template
import torch
from predict import PAD, UNKNOWN, Tagger, encode, tag, threads
from safetensors.torch import save_file
from torch import nn

IGNORE = -100  # the loss skips padding


def entities(value: Any, text: str) -> list[tuple[int, int, str]]:
    """The labelled spans: a JSON string (or list) of [start, end, type] or of
    {start, end, type}; spans outside the text are an error naming the row's text."""
    items = json.loads(value) if isinstance(value, str) else (value or [])
    found = []
    for item in items:
        start, end, kind = (
            (item["start"], item["end"], item["type"]) if isinstance(item, dict) else item
        )
        if not 0 <= int(start) < int(end) <= len(text):
            raise SystemExit(f"entity {item} lies outside its text: {text[:60]}")
        found.append((int(start), int(end), str(kind)))
    return found


def bio(text: str, spans: list[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * len(text)
    for start, end, kind in spans:
        tags[start] = f"B-{kind}"
        for at in range(start + 1, end):
            tags[at] = f"I-{kind}"
    return tags


def f1(truth: list[list[tuple[int, int, str]]], found: list[list[tuple[int, int, str]]]) -> float:
    right = sum(len(set(t) & set(f)) for t, f in zip(truth, found, strict=True))
    labelled, predicted = sum(map(len, truth)), sum(map(len, found))
    return 2 * right / (labelled + predicted) if labelled + predicted else 1.0


def batches(lengths: torch.Tensor, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Batches of sentences of about the same length (less padding for the LSTM to read), in
    a shuffled order."""
    noisy = lengths + torch.rand(len(lengths), generator=generator) * 8
    chunks = noisy.argsort().split(size)
    return [chunks[i] for i in torch.randperm(len(chunks), generator=generator).tolist()]


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    threads(hp["threads"])
    device = aicc_template.device()
    table = run.read_table(["text", "entities"])
    rows = [
        (str(t), entities(e, str(t)))
        for t, e in zip(table["text"], table["entities"], strict=True)
        if t is not None and str(t).strip()
    ]
    kinds = sorted({k for _, spans in rows for _, _, k in spans})
    if len(rows) < 10 or not kinds:
        raise SystemExit(f"{len(rows)} sentences with {len(kinds)} entity types: need 10 and 1")
    train, test = aicc_template.split(len(rows), hp["test_fraction"], hp["seed"])
    counts = Counter(c for i in train for c in rows[i][0])
    vocab = ["<pad>", "<unknown>", *sorted(counts)]
    index = {c: i for i, c in enumerate(vocab)}
    assert index["<pad>"] == PAD and index["<unknown>"] == UNKNOWN
    tags = ["O", *(f"{p}-{k}" for k in kinds for p in "BI")]

    ids, lengths = encode([rows[i][0] for i in train], index)
    target = torch.full(ids.shape, IGNORE, dtype=torch.long)
    for row, i in enumerate(train):
        text, spans = rows[i]
        target[row, : len(text)] = torch.tensor([tags.index(t) for t in bio(text, spans)])
    net = Tagger(len(vocab), len(tags), hp["embedding_dim"], hp["hidden"]).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=hp["learning_rate"])
    steps = hp["epochs"] * -(-len(train) // hp["batch_size"])
    # The step size falls linearly to zero: large steps learn fast, small ones settle the end.
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / steps)
    loss_of = nn.CrossEntropyLoss(ignore_index=IGNORE)
    generator = torch.Generator().manual_seed(hp["seed"])
    config = {
        "vocab": vocab,
        "tags": tags,
        "embedding_dim": hp["embedding_dim"],
        "hidden": hp["hidden"],
    }
    test_texts = [rows[i][0] for i in test]
    truth = [rows[i][1] for i in test]
    for epoch in range(1, hp["epochs"] + 1):
        net.train()
        total = 0.0
        for batch in batches(lengths, hp["batch_size"], generator):
            width = int(lengths[batch].max())
            x, y = ids[batch, :width].to(device), target[batch, :width].to(device)
            optimiser.zero_grad()
            logits = net(x, lengths[batch])
            loss = loss_of(logits.reshape(-1, len(tags)), y[:, : logits.shape[1]].reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(batch)
        run.log(
            epoch, loss=total / len(train), test_entity_f1=f1(truth, tag(net, test_texts, config))
        )

    found = tag(net, test_texts, config)
    score = f1(truth, found)
    per_kind = {
        k: round(
            f1(
                [[s for s in t if s[2] == k] for t in truth],
                [[s for s in f if s[2] == k] for f in found],
            ),
            3,
        )
        for k in kinds
    }
    save_file(
        {k: v.cpu().contiguous() for k, v in net.state_dict().items()},
        run.model_dir / "model.safetensors",
    )
    (run.model_dir / "config.json").write_text(json.dumps(config, ensure_ascii=False))
    labelled = Counter(k for _, spans in rows for _, _, k in spans)
    run.finish(
        {"entity_f1": score},
        {
            "summary": {
                "en": (
                    f"Finds {', '.join(kinds)} in contract sentences. Learned from {len(train)} "
                    f"sentences; on {len(test)} held-out sentences it found the entities with "
                    f"an F1 of {score:.3f} (an entity counts when its exact span and type match)."
                ),
                "zh-CN": (
                    f"从合同语句中抽取 {'、'.join(kinds)}。用 {len(train)} 条语句训练；在 "
                    f"{len(test)} 条留出语句上的实体 F1 为 {score:.3f}"
                    "（起止位置与类型完全一致才算正确）。"
                ),
            },
            "rows": len(rows),
            "train_rows": len(train),
            "test_rows": len(test),
            "entities": {k: labelled[k] for k in kinds},
            "per_type_f1": per_kind,
            "device": device,
            "predicts": "each sentence's entities: start, end, type and the text they cover",
        },
    )


if __name__ == "__main__":
    main()
