"""Matrix factorisation with the BPR loss: each shopper and product gets a small vector, trained
so that a shopper's products score above products they did not touch. Held out: each shopper's
last product (leave-last-out); the metric is how often it is among the 10 recommended."""

import json
import math
from collections import Counter

import aicc_template
import torch
from safetensors.torch import save_file

run = aicc_template.start()
hp = run.hp
torch.set_num_threads(1)  # tiny tensors: more threads only add overhead
device = aicc_template.device()
table = run.read_table(["user_id", "item_id", "clicks", "timestamp"])
events = sorted(
    zip(
        map(str, table["user_id"]),
        map(str, table["item_id"]),
        table["timestamp"],  # as read (dates, numbers or ISO text): ordered as such
        (max(0.0, float(c or 0)) for c in table["clicks"]),
        strict=True,
    ),
    key=lambda e: (e[0], e[2] is None, e[2]),
)
users = sorted({e[0] for e in events})
items = sorted({e[1] for e in events})
uix = {u: n for n, u in enumerate(users)}
iix = {i: n for n, i in enumerate(items)}

# Leave-last-out: a shopper's latest product is held out when they have at least two.
# A pair weighs more the more it was clicked (1 + log clicks).
history: dict[int, list[tuple[int, float]]] = {}
for u, i, _, clicks in events:
    history.setdefault(uix[u], []).append((iix[i], clicks))
train_pairs, test, weight = [], {}, {}
for u, seq in history.items():
    if len(seq) >= 2:
        test[u] = seq[-1][0]
        seq = seq[:-1]
    for i, clicks in seq:
        weight[u, i] = weight.get((u, i), 0.0) + clicks
train_pairs = list(weight)
pairs = torch.tensor(train_pairs, device=device)
weights = torch.tensor(
    [1 + math.log1p(max(0.0, weight[p] - 1)) for p in train_pairs], device=device
)
seen = torch.zeros(len(users), len(items), dtype=torch.bool, device=device)
seen[pairs[:, 0], pairs[:, 1]] = True

factors = int(hp["factors"])
user_vec = torch.nn.Embedding(len(users), factors).to(device)
item_vec = torch.nn.Embedding(len(items), factors).to(device)
item_bias = torch.nn.Embedding(len(items), 1).to(device)
for emb in (user_vec, item_vec):
    torch.nn.init.normal_(emb.weight, std=0.1)
torch.nn.init.zeros_(item_bias.weight)
params = [*user_vec.parameters(), *item_vec.parameters(), *item_bias.parameters()]


class Adam:
    """Adam, by hand: `torch.optim` imports torch._dynamo, seconds of a run this short."""

    def __init__(self, params: list[torch.Tensor], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, b1: float = 0.9, b2: float = 0.999) -> None:
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v, strict=True):
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                step = m / (1 - b1**self.t) / ((v / (1 - b2**self.t)).sqrt() + 1e-8)
                p.sub_(self.lr * step)


optimizer = Adam(params, float(hp["learning_rate"]))
batch = int(hp["batch_size"])


def scores(u: torch.Tensor) -> torch.Tensor:
    return user_vec(u) @ item_vec.weight.T + item_bias.weight.T


def hit_rate(k: int = 10) -> float:
    if not test:
        return 0.0
    with torch.no_grad():
        u = torch.tensor(list(test), device=device)
        s = scores(u).masked_fill(seen[u], float("-inf"))
        top = s.topk(min(k, len(items)), dim=1).indices
        truth = torch.tensor(list(test.values()), device=device)
        return float((top == truth[:, None]).any(dim=1).float().mean())


for epoch in range(1, int(hp["epochs"]) + 1):
    order = torch.randperm(len(pairs), device=device)
    total = 0.0
    for start in range(0, len(pairs), batch):
        chunk, w = pairs[order[start : start + batch]], weights[order[start : start + batch]]
        u, pos = chunk[:, 0], chunk[:, 1]
        neg = torch.randint(len(items), (len(u),), device=device)
        uv = user_vec(u)
        diff = (uv * (item_vec(pos) - item_vec(neg))).sum(1) + (
            item_bias(pos) - item_bias(neg)
        ).squeeze(1)
        reg = float(hp["regularization"]) * (
            uv.pow(2).sum() + item_vec(pos).pow(2).sum() + item_vec(neg).pow(2).sum()
        )
        loss = -(w * torch.nn.functional.logsigmoid(diff)).mean() + reg / len(u)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(u)
    run.log(epoch, loss=total / len(pairs), hit_rate_at_10=hit_rate())

popularity = Counter(i for _, i in train_pairs)
top_popular = [i for i, _ in popularity.most_common(10)]
popular_hits = sum(truth in top_popular for truth in test.values()) / max(1, len(test))
hits = hit_rate()

save_file(
    {
        "user_vectors": user_vec.weight.detach().cpu().contiguous(),
        "item_vectors": item_vec.weight.detach().cpu().contiguous(),
        "item_bias": item_bias.weight.detach().cpu().squeeze(1).contiguous(),
    },
    str(run.model_dir / "model.safetensors"),
)
seen_items: dict[str, list[str]] = {}
for u, i in train_pairs:
    seen_items.setdefault(users[u], []).append(items[i])
if test:  # the model recommends to every shopper what they have not touched yet
    for u, i in test.items():
        seen_items[users[u]].append(items[i])
config = {
    "users": users,
    "items": items,
    "seen": seen_items,
    "popular": [[items[i], n / len(train_pairs)] for i, n in popularity.most_common(50)],
    "factors": factors,
}
(run.model_dir / "config.json").write_text(json.dumps(config, ensure_ascii=False))

run.finish(
    {"hit_rate_at_10": hits, "popularity_hit_rate_at_10": popular_hits},
    {
        "summary": {
            "en": (
                f"Learned the tastes of {len(users)} shoppers over {len(items)} products from "
                f"{len(events)} interactions. For {hits:.0%} of shoppers the product they "
                f"picked last is among the 10 recommended (the 10 best sellers for everyone: "
                f"{popular_hits:.0%})."
            ),
            "zh-CN": (
                f"从 {len(events)} 条交互记录中学习了 {len(users)} 位顾客对 {len(items)} 件商品的"
                f"偏好。{hits:.0%} 的顾客最后选择的商品出现在推荐的前 10 件中"
                f"（对所有人都推荐最畅销的 10 件：{popular_hits:.0%}）。"
            ),
        },
        "rows": len(events),
        "users": len(users),
        "items": len(items),
        "held_out_users": len(test),
        "predicts": "the 10 products each shopper is most likely to pick next, among those "
        "they have not interacted with",
    },
)
