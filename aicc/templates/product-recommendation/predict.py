"""Top 10 products for each `user_id` of the input (CSV or JSON lines), among the products the
shopper has not interacted with; a shopper the model has not seen gets the best sellers."""

import json

import aicc_template
import torch
from safetensors.torch import load_file

args = aicc_template.predict_args()
config = json.loads((args.model / "config.json").read_text())
weights = load_file(str(args.model / "model.safetensors"))
items = config["items"]
uix = {u: n for n, u in enumerate(config["users"])}
iix = {i: n for n, i in enumerate(items)}
k = min(10, len(items))

out: dict[str, list] = {"user_id": [], "item_id": [], "rank": [], "score": []}
for user in map(str, aicc_template.read_table(args.input)["user_id"]):
    if user in uix:
        s = weights["user_vectors"][uix[user]] @ weights["item_vectors"].T + weights["item_bias"]
        for item in config["seen"].get(user, []):
            s[iix[item]] = float("-inf")
        top = torch.topk(s, k)
        picks = [(items[i], float(v)) for v, i in zip(top.values, top.indices, strict=True)]
    else:
        picks = [(item, share) for item, share in config["popular"][:k]]
    for rank, (item, score) in enumerate(picks, 1):
        out["user_id"].append(user)
        out["item_id"].append(item)
        out["rank"].append(rank)
        out["score"].append(round(score, 4))
aicc_template.write_table(args.output, out)
