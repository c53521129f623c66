"""Trains the review sentiment network (predict.py's `Net`) with Adam, logging the training
loss and the held-out accuracy each epoch; saves the weights as safetensors and the vocabulary
and classes as config.json."""

from __future__ import annotations

import json
from collections import Counter

import aicc_template
import torch
from predict import PAD, UNKNOWN, Net, encode, threads
from safetensors.torch import save_file
from torch import nn


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    threads(hp["threads"])
    device = aicc_template.device()
    table = run.read_table(["text", "label"])
    rows = [
        (str(t), str(y))
        for t, y in zip(table["text"], table["label"], strict=True)
        if t is not None and str(t).strip() and y is not None
    ]
    classes = sorted({y for _, y in rows})
    if len(rows) < 10 or len(classes) < 2:
        raise SystemExit(
            f"{len(rows)} reviews with {len(classes)} label(s): at least 10 reviews and 2 labels"
        )
    train, test = aicc_template.split(len(rows), hp["test_fraction"], hp["seed"])
    counts = Counter(c for i in train for c in rows[i][0])
    vocab = ["<pad>", "<unknown>", *sorted(counts)]
    index = {c: i for i, c in enumerate(vocab)}
    assert index["<pad>"] == PAD and index["<unknown>"] == UNKNOWN

    def tensors(part: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = encode([rows[i][0] for i in part], index, hp["max_length"])
        target = torch.tensor([classes.index(rows[i][1]) for i in part])
        return ids.to(device), target.to(device)

    x_train, y_train = tensors(train)
    x_test, y_test = tensors(test)
    net = Net(len(vocab), len(classes), hp["embedding_dim"], hp["channels"]).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=hp["learning_rate"])
    loss_of = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(hp["seed"])
    for epoch in range(1, hp["epochs"] + 1):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(train), generator=generator).split(hp["batch_size"]):
            batch = batch.to(device)
            optimiser.zero_grad()
            loss = loss_of(net(x_train[batch]), y_train[batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        accuracy, test_loss = evaluate(net, x_test, y_test, loss_of)
        run.log(epoch, loss=total / len(train), test_loss=test_loss, test_accuracy=accuracy)

    accuracy, _ = evaluate(net, x_test, y_test, loss_of)
    save_file(
        {k: v.cpu().contiguous() for k, v in net.state_dict().items()},
        run.model_dir / "model.safetensors",
    )
    config = {
        "vocab": vocab,
        "classes": classes,
        "embedding_dim": hp["embedding_dim"],
        "channels": hp["channels"],
        "max_length": hp["max_length"],
    }
    (run.model_dir / "config.json").write_text(json.dumps(config, ensure_ascii=False))
    seen = Counter(y for _, y in rows)
    run.finish(
        {"accuracy": accuracy},
        {
            "summary": {
                "en": (
                    f"Reads whether a review is {', '.join(classes)}. Learned from {len(train)} "
                    f"reviews ({len(vocab) - 2} distinct characters); on {len(test)} held-out "
                    f"reviews it was right {accuracy:.0%} of the time."
                ),
                "zh-CN": (
                    f"判断评论的情感倾向（{'、'.join(classes)}）。用 {len(train)} 条评论训练"
                    f"（{len(vocab) - 2} 个不同字符）；在 {len(test)} 条留出评论上的准确率为 "
                    f"{accuracy:.0%}。"
                ),
            },
            "rows": len(rows),
            "train_rows": len(train),
            "test_rows": len(test),
            "classes": {c: seen[c] for c in classes},
            "characters": len(vocab) - 2,
            "device": device,
            "predicts": "the sentiment (label) of each review, with its probability (score)",
        },
    )


def evaluate(net: Net, x: torch.Tensor, y: torch.Tensor, loss_of: nn.Module) -> tuple[float, float]:
    """Accuracy and loss on the held-out reviews."""
    net.eval()
    with torch.no_grad():
        logits = net(x)
    return (logits.argmax(1) == y).float().mean().item(), float(loss_of(logits, y).item())


if __name__ == "__main__":
    main()
