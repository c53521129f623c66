"""LoRA adapters over one base on one CPU replica (issue 61): 100 adapters' cold loads, tokens/s
with adapters against one merged model in the same run, memory against 100 merged copies; and
the gateway's routing hit rate with 4 replicas and 100 adapters.

    .venv/bin/python benchmarks/adapters.py [--adapters 100] [--json]

The engine half runs the replica's own code in this process (`aicc/serving`: `TextModel`,
`Generation`, the adapter cache over peft), no HTTP (the same on both sides, it would only
dilute the ratio): a tiny Llama built from a config (hidden 256, 4 layers), `--adapters` LoRA
adapters (rank 8 on q_proj and v_proj, random non-zero weights, as peft saves them), all loaded
one after the other (each cold load timed: `load_adapter` from disk into the base); then greedy
generation of `--tokens` tokens for `--requests` prompts, each request with the next adapter in
turn, against the same prompts on the first adapter merged into its base (`merge_and_unload`),
one model, no adapters; the two sides interleaved request by request (which goes first
alternating), `--rounds` rounds, tokens/s over all of them. Interleaved, not whole runs one
after the other, because this host's other load swings within seconds: alternated whole runs
of the same code gave ratios from 0.4 to 1.6 within one run. Memory: the parameters' bytes
(base plus every adapter's, against 100 merged models' whole weights).

The routing half is a discrete-event simulation driving the gateway's own choice
(`aicc/gateway/affinity.py`: `Holdings` learnt from the replicas' answers, `choose`) and each
replica's own cache (`aicc/serving/adapters.py`'s `Adapters`, bounded to `--cache` adapters):
Poisson arrivals at 70 % of the 4 replicas' capacity, adapters drawn by a Zipf law (s = 1.1),
each request 1 time unit plus 0.2 for a cold load; a hit is a request routed to a replica whose
cache holds its adapter at that moment. The same arrivals under plain least-loaded routing are
the peer."""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HIDDEN = 256  # the tiny model's width: at 128 each op is mostly Python overhead
PROMPTS = ["the cat sat on the", "a model answers", "gradient descent takes", "the server"]


def build(root: Path, count: int) -> tuple[Path, list[Path]]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from aicc.testing import serving

    base = serving.tiny_lm(root / "base", context=512)
    config = LlamaConfig.from_pretrained(base)
    config.update({"hidden_size": HIDDEN, "intermediate_size": 2 * HIDDEN, "num_hidden_layers": 4})
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = LoraConfig(r=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft = get_peft_model(model, lora, adapter_name="a0")
    adapters = []
    for i in range(count):
        torch.manual_seed(i + 1)
        for name, param in peft.named_parameters():
            if "lora_" in name:
                param.data.normal_(0, 0.02)
        path = root / "adapters" / "prj" / f"ad{i:03d}"
        peft.save_pretrained(str(path))
        adapters.append(path / "a0" if (path / "a0").is_dir() else path)
    return base, adapters


def request(model: Any, prompt: str, adapter: tuple[str, Path] | None, args: Any) -> float:
    """One greedy request of `--tokens` tokens as the replica runs it; its seconds."""
    from aicc.serving.protocol import Sampling
    from aicc.serving.text import Generation

    sampling = Sampling(max_tokens=args.tokens, temperature=0, ignore_eos=True)
    started = time.perf_counter()
    run = Generation(model, model.encode(prompt), sampling, args.tokens, adapter)
    while run.finish is None:
        run.step()
    run.close()
    assert run.completion_tokens == args.tokens
    return time.perf_counter() - started


def run_tokens(
    model: Any, adapters: list[tuple[str, Path]], merged: Any, args: Any
) -> tuple[float, float]:
    """One round: each prompt with the next adapter, and the same prompt on the merged model
    right after or before it (in turn), so the machine's other load, which changes within
    seconds on a shared host, falls on both sides alike. The seconds each side took."""
    spent = [0.0, 0.0]  # adapters, merged
    for i in range(args.requests):
        prompt = PROMPTS[i % len(PROMPTS)]
        sides = [(0, model, adapters[i % len(adapters)]), (1, merged, None)]
        for side, engine, adapter in sides[:: 1 if i % 2 == 0 else -1]:
            spent[side] += request(engine, prompt, adapter, args)
    return spent[0], spent[1]


def engine(args: Any, root: Path) -> dict[str, Any]:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from aicc.serving.text import TextModel

    torch.set_num_threads(1)
    base, paths = build(root, args.adapters)
    model = TextModel.load(base)
    base_bytes = sum(p.numel() * p.element_size() for p in model.model.parameters())
    model.serve_adapters(2**40)
    assert model.adapters is not None
    keyed = [(f"prj/ad{i:03d}", p) for i, p in enumerate(paths)]
    for key, path in keyed:
        model.adapters.acquire(key, path)
    loads = sorted(model.adapters.load_seconds)
    total = sum(p.numel() * p.element_size() for p in model.model.parameters())
    merged_dir = root / "merged"
    merged_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), paths[0])
    merged_model.merge_and_unload().save_pretrained(merged_dir)
    model.tokenizer.save_pretrained(merged_dir)
    merged = TextModel.load(merged_dir)
    rounds = [run_tokens(model, keyed, merged, args) for _ in range(args.rounds)]
    tokens = args.rounds * args.requests * args.tokens  # each side's
    with_adapters = tokens / sum(a for a, _ in rounds)
    single = tokens / sum(m for _, m in rounds)
    return {
        "adapters": args.adapters,
        "cold_load_p50_ms": round(1000 * loads[len(loads) // 2], 1),
        "cold_load_p95_ms": round(1000 * loads[min(len(loads) - 1, int(0.95 * len(loads)))], 1),
        "tokens_per_s_adapters": round(with_adapters, 1),
        "tokens_per_s_merged": round(single, 1),
        "tokens_ratio": round(with_adapters / single, 3),
        "tokens_ratio_rounds": [round(m / a, 3) for a, m in rounds],
        "memory_mib_shared_base": round(total / 2**20, 2),
        "memory_mib_merged_copies": round(args.adapters * base_bytes / 2**20, 2),
        "memory_ratio": round(total / (args.adapters * base_bytes), 4),
    }


def routing(args: Any, affinity: bool) -> float:
    """The share of requests routed to a replica that holds their adapter."""
    from aicc.gateway.affinity import Holdings, choose
    from aicc.serving.adapters import Adapters

    rng = random.Random(7)
    weights = [1 / (i + 1) ** 1.1 for i in range(args.adapters)]
    replicas = [(f"job{i}", f"http://r{i}") for i in range(4)]
    caches = {
        url: Adapters(args.cache, lambda key, path: None, lambda key: None) for _, url in replicas
    }
    holdings = Holdings()
    load: dict[str, int] = dict.fromkeys(caches, 0)
    free_at = dict.fromkeys(caches, 0.0)
    rate = 0.7 * len(replicas)  # arrivals per time unit; each request takes about 1
    now, hits = 0.0, 0
    ends: list[tuple[float, str]] = []
    one = Path(tempfile.mkdtemp())  # a one-byte adapter: the cache holds `--cache` of them
    (one / "adapter_model.safetensors").write_bytes(b"x")
    for turn in range(args.routed):
        now += rng.expovariate(rate)
        while ends and ends[0][0] <= now:
            _, url = heapq.heappop(ends)
            load[url] -= 1
        name = f"ad{rng.choices(range(args.adapters), weights)[0]:03d}"
        held = holdings.holders("dep", "prj", name) if affinity else frozenset()
        _, url = choose(replicas, load.__getitem__, held, 2, turn)
        key = f"prj/{name}"
        hit = key in caches[url].held
        hits += hit
        caches[url].acquire(key, one)
        start = max(now, free_at[url])
        free_at[url] = start + 1.0 + (0 if hit else 0.2)
        load[url] += 1
        heapq.heappush(ends, (free_at[url], url))
        headers = {"x-aicc-adapter": key, "x-aicc-adapters-evicted": caches[url].report()}
        holdings.learn("dep", "prj", name, url, headers)
    return float(hits / args.routed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", type=int, default=100)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=int, default=40, help="adapters a replica's cache holds")
    parser.add_argument("--routed", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        found = engine(args, Path(tmp))
    found["hit_rate_affinity"] = round(routing(args, True), 4)
    found["hit_rate_least_loaded"] = round(routing(args, False), 4)
    found["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, torch 1 thread"
    found["load"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(found))
        return
    for name, value in found.items():
        print(f"{name:28} {value}")
    print(f"(cold-load samples: {args.adapters}; tokens: {args.requests} x {args.tokens})")


if __name__ == "__main__":
    main()
