"""A batch of chat requests (OpenAI's `/v1/batches`) against the same requests sent one by one,
through the gateway to a tiny CPU model.

Starts a real `aicc serve` (SQLite) in a temporary home, trains the `lora-finetune` template's
tiny model (a Llama of 2 layers, hidden 64, built from scratch), deploys it with one replica,
and with the stock `openai` client sends N chat completions one after another (each waits for
the previous answer, as a simple client does), then the same N as one batch file, waiting for
the batch to complete (polled every 0.5 s). Greedy decoding, `max_tokens` fixed, so both paths
generate the same words: the answers are compared. JSON on stdout; benchmarks/results/openai.json
records it.

    PYTHONPATH=. .venv/bin/python benchmarks/openai_batch.py --requests 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

from aicc.testing.jobs import wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import ServerProcess, free_port

CONFIG = """\
limits: {rate_limit: {enabled: false}}
gateway: {batch_poll_s: 0.5}
deployments: {probe_interval_s: 0.5}
"""


def question(i: int) -> str:
    return f"第{i}课讲什么？"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    n, max_tokens = args.requests, args.max_tokens
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(CONFIG)
        server = ServerProcess(home, free_port()).start()
        try:
            with server.client() as api:
                result = run(api, server.url, n, max_tokens)
        finally:
            server.close()
    result["machine"] = f"{platform.node()} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})"
    print(json.dumps(result, indent=2))


def run(api: httpx.Client, url: str, n: int, max_tokens: int) -> dict[str, Any]:
    started = time.monotonic()
    made = api.post("/api/v1/templates/lora-finetune/runs", json={"model": "tiny-lm"})
    assert made.status_code == 201, made.text
    done = wait_state(api, made.json()["id"], {"succeeded", "failed"}, timeout=600)
    assert done["state"] == "succeeded", done
    wait("the model", lambda: api.get("/api/v1/models/tiny-lm").json().get("versions"), 120)
    body = {"name": "tiny", "model": "tiny-lm", "min_replicas": 1, "max_replicas": 1}
    assert api.post("/api/v1/deployments", json=body).status_code == 201
    wait(
        "a ready replica",
        lambda: (
            any(r["ready"] for r in api.get("/api/v1/deployments/tiny").json()["replicas"]) or None
        ),
        timeout=180,
    )
    key = api.post("/api/v1/keys", json={"name": "bench"}).json()["secret"]
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)
    setup_s = time.monotonic() - started

    def ask(i: int) -> dict[str, Any]:
        return {
            "model": "tiny",
            "messages": [{"role": "user", "content": question(i)}],
            "temperature": 0,
            "max_tokens": max_tokens,
        }

    for i in range(5):  # warm: the replica's first answers are slower
        client.chat.completions.create(**ask(i))

    sent = time.monotonic()
    one_by_one = [
        client.chat.completions.create(**ask(i)).choices[0].message.content for i in range(n)
    ]
    sequential_s = time.monotonic() - sent

    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": ask(i)}
        for i in range(n)
    ]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    sent = time.monotonic()
    source = client.files.create(file=("bench.jsonl", data), purpose="batch")
    batch = client.batches.create(
        input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
    batch_s = time.monotonic() - sent
    assert batch.status == "completed" and batch.output_file_id, batch
    out = client.files.content(batch.output_file_id).text.splitlines()
    answers = {}
    for raw in out:
        row = json.loads(raw)
        answers[row["custom_id"]] = row["response"]["body"]["choices"][0]["message"]["content"]
    same = sum(answers.get(f"r{i}") == one_by_one[i] for i in range(n))
    counts = batch.request_counts
    assert counts is not None
    return {
        "requests": n,
        "max_tokens": max_tokens,
        "setup_s": round(setup_s, 1),
        "one_by_one_s": round(sequential_s, 2),
        "one_by_one_per_s": round(n / sequential_s, 2),
        "batch_s": round(batch_s, 2),
        "batch_per_s": round(n / batch_s, 2),
        "batch_over_one_by_one": round(batch_s / sequential_s, 3),
        "batch_completed": counts.completed,
        "batch_failed": counts.failed,
        "same_answers": same,
    }


if __name__ == "__main__":
    main()
