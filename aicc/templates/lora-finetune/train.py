"""LoRA fine-tuning of a causal language model on a course's question-answer pairs: the base
model stays frozen, small low-rank adapters learn to answer. `base_model` is `tiny` (a tiny
Llama built here with a tokenizer learned from the data: nothing is downloaded) or the path of
a Hugging Face model directory the job mounts. Metric: the loss on held-out answers."""

import json
import math

import aicc_template
import torch
from peft import LoraConfig, get_peft_model
from predict import answer, prompt, tiny_model, train_tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer

run = aicc_template.start()
hp = run.hp
torch.set_num_threads(1)  # a tiny model: more threads only wait on each other
device = aicc_template.device()
table = run.read_table(["question", "answer"])
pairs = [
    (str(q).strip(), str(a).strip())
    for q, a in zip(table["question"], table["answer"], strict=True)
    if q and a
]
train_idx, test_idx = aicc_template.split(len(pairs), 0.2, int(hp["seed"]))

tiny = hp["base_model"] == "tiny"
if tiny:
    texts = [prompt(q) + a for q, a in (pairs[i] for i in train_idx)]
    tokenizer = train_tokenizer(texts, int(hp["vocab_size"]))
    base = tiny_model(len(tokenizer))
    base.save_pretrained(run.model_dir / "base")
else:
    tokenizer = AutoTokenizer.from_pretrained(hp["base_model"], local_files_only=True)
    base = AutoModelForCausalLM.from_pretrained(hp["base_model"], local_files_only=True)
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
lora = LoraConfig(
    r=int(hp["lora_r"]),
    lora_alpha=int(hp["lora_alpha"]),
    lora_dropout=0.0,
    target_modules="all-linear",
    # A tokenizer learned here has new tokens: their embeddings and the output layer train too.
    modules_to_save=["embed_tokens", "lm_head"] if tiny else None,
    task_type="CAUSAL_LM",
)
model = get_peft_model(base, lora).to(device)


def encode(i: int) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer + end, and labels that score only the answer."""
    q, a = pairs[i]
    head = tokenizer(prompt(q), add_special_tokens=False).input_ids
    tail = [*tokenizer(a, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
    ids = (head + tail)[: int(hp["max_length"])]
    return ids, ([-100] * len(head) + tail)[: len(ids)]


def batches(rows: list[int], size: int) -> list[tuple[torch.Tensor, ...]]:
    out = []
    for start in range(0, len(rows), size):
        encoded = [encode(i) for i in rows[start : start + size]]
        width = max(len(ids) for ids, _ in encoded)
        ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
        labels = torch.full((len(encoded), width), -100)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for n, (row, label) in enumerate(encoded):
            ids[n, : len(row)] = torch.tensor(row)
            labels[n, : len(label)] = torch.tensor(label)
            mask[n, : len(row)] = 1
        out.append((ids.to(device), mask.to(device), labels.to(device)))
    return out


def eval_loss() -> float:
    """Mean cross-entropy per answer token on the held-out pairs."""
    model.eval()
    total = tokens = 0.0
    with torch.no_grad():
        for ids, mask, labels in batches(test_idx, 32):
            n = float((labels[:, 1:] != -100).sum())
            total += float(model(input_ids=ids, attention_mask=mask, labels=labels).loss) * n
            tokens += n
    model.train()
    return total / tokens


before = eval_loss()
size = int(hp["batch_size"])
trainable = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.AdamW(trainable, lr=float(hp["learning_rate"]), weight_decay=0.0)
generator = torch.Generator().manual_seed(int(hp["seed"]))
model.train()
for epoch in range(1, int(hp["epochs"]) + 1):
    order = [train_idx[i] for i in torch.randperm(len(train_idx), generator=generator)]
    total = 0.0
    steps = batches(order, size)
    for ids, mask, labels in steps:
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    run.log(epoch, loss=total / len(steps), eval_loss=eval_loss())
after = eval_loss()

model.save_pretrained(run.model_dir)
tokenizer.save_pretrained(run.model_dir)
(run.model_dir / "aicc.json").write_text(
    json.dumps({"base_model": hp["base_model"], "prompt": prompt("{question}")}) + "\n"
)
model.eval()
shown = test_idx[:3]
samples = [
    {"question": pairs[i][0], "expected": pairs[i][1], "answer": a}
    for i, a in zip(shown, answer(model, tokenizer, [pairs[i][0] for i in shown]), strict=True)
]
adapter = sum(p.numel() for p in trainable)
run.finish(
    {
        "eval_loss": after,
        "perplexity": math.exp(after),
        "untrained_eval_loss": before,
    },
    {
        "summary": {
            "en": (
                f"Fine-tuned {'a tiny Llama built from scratch' if tiny else hp['base_model']} "
                f"with LoRA adapters ({adapter:,} trainable parameters) on {len(train_idx)} "
                f"question-answer pairs. On {len(test_idx)} held-out questions the loss per "
                f"answer token fell from {before:.2f} (untrained) to {after:.2f} "
                f"(perplexity {math.exp(after):.1f})."
            ),
            "zh-CN": (
                f"使用 LoRA 适配器（{adapter:,} 个可训练参数）在 {len(train_idx)} 组问答上微调"
                f"{'从零构建的微型 Llama 模型' if tiny else hp['base_model']}。在 {len(test_idx)}"
                f" 个留出问题上，答案每个词元的损失从未训练时的 {before:.2f} 降到 {after:.2f}"
                f"（困惑度 {math.exp(after):.1f}）。"
            ),
        },
        "rows": len(pairs),
        "train_pairs": len(train_idx),
        "held_out_pairs": len(test_idx),
        "untrained_eval_loss": round(before, 4),
        "eval_loss": round(after, 4),
        "trainable_parameters": adapter,
        "samples": samples,
        "predicts": "an answer to each question, generated greedily",
    },
)
