"""What content safety adds to a request through the gateway (issue 61.5): the filter's own
work on the request's path, timed in this process with the gateway's code (`gateway/safety.py`,
`core/safety.py`), per request, p50 and p99 over `--requests` requests, in CPU time of the
thread (what the filter costs, whatever else the machine runs) and in wall-clock time.

A request here is a chat prompt of about 2,000 characters checked before it is forwarded, and
its answer of about 1,000 characters checked once whole (non-streaming) or, streamed, as 200
chunks through the stream check with its window. The policy: `--words` operator words (random
Chinese and Latin strings, none of which occur) and 20 regular expressions (ID-card and phone
numbers, e-mail addresses, ...), one masking, the rest blocking; nothing matches, the common
case, so every check scans its whole text. What the rest of a request costs (routing, the
replica) is the gateway benchmark's (`benchmarks/gateway.py`). JSON on stdout.

    .venv/bin/python benchmarks/gateway_safety.py --requests 2000 --words 2000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from typing import Any

from aicc.config import SafetySettings
from aicc.core.safety import Policy
from aicc.gateway import safety

PATTERNS = [
    r"\b\d{17}[\dXx]\b",  # a resident ID card number
    r"\b1[3-9]\d{9}\b",  # a mobile number
    r"[\w.+-]+@[\w-]+\.[\w.]+",
    r"\b(?:\d[ -]?){15,18}\d\b",  # a card number
    *(rf"\bbanned{i}\w*\b" for i in range(16)),
]


def policy(words: int, seed: int = 7) -> Policy:
    rnd = random.Random(seed)
    latin = "bcdfghjklmnpqrstvwxz"
    chosen = [
        "".join(rnd.choice(latin) for _ in range(rnd.randint(6, 12)))
        if i % 2
        else "".join(chr(rnd.randint(0x9FA0, 0x9FCF)) for _ in range(rnd.randint(2, 4)))
        for i in range(words)
    ]
    settings = SafetySettings.model_validate(
        {
            "enabled": True,
            "rules": [
                {"name": "words", "words": chosen},
                {"name": "ids", "patterns": PATTERNS[:1], "action": "mask"},
                {"name": "patterns", "patterns": PATTERNS[1:]},
            ],
        }
    )
    found = safety.policy_of(settings, None)
    assert found is not None
    return found


def text(chars: int, seed: int) -> str:
    rnd = random.Random(seed)
    pool = "人工智能计算中心的模型服务 the quick brown fox answers a question about serving "
    return "".join(rnd.choice(pool) for _ in range(chars))


def one(found: Policy, prompt: str, answer: str, stream: bool) -> tuple[float, float]:
    """One request's safety work, in ms of this thread's CPU and of the wall clock: the
    prompt, then the answer whole or as chunks."""
    payload = {"model": "chat", "messages": [{"role": "user", "content": prompt}]}
    started, cpu = time.perf_counter(), time.thread_time()
    hit, _, _ = safety.check(found, safety.prompt_slots("chat", payload))
    assert hit is None
    if stream:
        guard = safety.StreamGuard(None, found, None, None, "req")  # type: ignore[arg-type]
        for i in range(0, len(answer), 5):  # 200 chunks, as a replica streams them
            delta = {"content": answer[i : i + 5]}
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
            _, cut = _feed(guard, json.dumps(chunk).encode())
            assert not cut
    else:
        body = {"choices": [{"index": 0, "message": {"content": answer}}]}
        hit, _, _ = safety.check(found, safety.answer_slots(body))
        assert hit is None
    return (time.thread_time() - cpu) * 1000, (time.perf_counter() - started) * 1000


def _feed(guard: safety.StreamGuard, data: bytes) -> tuple[bytes, bool]:
    """The guard's check of one event, run to its end (nothing matches: it never awaits)."""
    coroutine = guard.event(b"data: " + data + b"\n\n", data)
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: tuple[bytes, bool] = done.value
        return result
    raise RuntimeError("the check awaited: it found something")


def summary(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--words", type=int, default=2000, help="operator words in the list")
    args = parser.parse_args()
    found = policy(args.words)
    prompts = [text(2000, i) for i in range(50)]
    answers = [text(1000, 1000 + i) for i in range(50)]
    results = {}
    for stream in (False, True):
        for i in range(20):  # warm-up
            one(found, prompts[i % 50], answers[i % 50], stream)
        samples = [
            one(found, prompts[i % 50], answers[i % 50], stream) for i in range(args.requests)
        ]
        results["streamed" if stream else "whole"] = {
            "cpu": summary([c for c, _ in samples]),
            "wall": summary([w for _, w in samples]),
        }
    print(
        json.dumps(
            {
                "words": args.words,
                "patterns": len(PATTERNS),
                "requests": args.requests,
                "added": results,
                "python": platform.python_version(),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
