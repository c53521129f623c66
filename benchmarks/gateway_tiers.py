"""Service tiers under saturation (issue 61.3): tier 1's latency when tier 3 floods a deployment,
against tier 1's latency on the idle deployment.

Starts a real `aicc serve` (SQLite) in a temporary home with `gateway.tiers.per_replica` set, a
deployment of one replica of `aicc/testing/upstream.py` that takes `--delay` seconds an answer,
and a tier-1 and a tier-3 key (`openai`'s client, as a tenant's application). First tier 1
alone sends `--requests` requests one after another (idle). Then `--flood` tier-3 clients send
requests back to back (closed loop, far past what the replica holds) while tier 1 sends its
`--requests` again; tier 3's answers and 429s are counted (a refused tier-3 client waits its
`Retry-After`, as a client should). Reports each phase's p50/p95 and
tier 1's p95 ratio, saturated over idle (the goal: at most 2). JSON on stdout.

    .venv/bin/python benchmarks/gateway_tiers.py --requests 100 --flood 16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import openai

from aicc.testing.deployments import deploy
from aicc.testing.servers import ServerProcess, free_port

ASK = [{"role": "user", "content": "how busy is it"}]


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def timed(client: openai.OpenAI) -> float:
    started = time.perf_counter()
    client.chat.completions.create(model="busy", messages=ASK)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="tier 1's, per phase")
    parser.add_argument("--flood", type=int, default=16, help="tier-3 clients back to back")
    parser.add_argument("--delay", type=float, default=0.1, help="the replica's seconds")
    parser.add_argument("--per-replica", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(
            "limits: {rate_limit: {enabled: false}}\n"
            f"gateway: {{tiers: {{per_replica: {args.per_replica}, queue: {{1: 1000, 2: 100,"
            " 3: 4}, wait_s: {1: 60, 2: 30, 3: 2}}}\n"
        )
        server = ServerProcess(home, free_port()).start()
        try:
            with server.client() as api:
                deploy(api, "busy", env={"UPSTREAM_DELAY_S": str(args.delay)})
                keys = {
                    tier: api.post("/api/v1/keys", json={"name": f"t{tier}", "tier": tier}).json()[
                        "secret"
                    ]
                    for tier in (1, 3)
                }

            def client(tier: int) -> openai.OpenAI:
                return openai.OpenAI(
                    base_url=server.url + "/v1", api_key=keys[tier], max_retries=0, timeout=120
                )

            gold = client(1)
            for _ in range(5):  # warm-up
                timed(gold)
            idle = [timed(gold) for _ in range(args.requests)]

            stop = threading.Event()
            counts = {"answered": 0, "refused": 0}
            lock = threading.Lock()

            def flood() -> None:
                bronze = client(3)
                while not stop.is_set():
                    try:
                        timed(bronze)
                        outcome, pause = "answered", 0.0
                    except openai.RateLimitError as e:  # as a client should: after Retry-After
                        outcome, pause = "refused", float(e.response.headers["retry-after"])
                    with lock:
                        counts[outcome] += 1
                    stop.wait(pause)

            threads = [threading.Thread(target=flood) for _ in range(args.flood)]
            for thread in threads:
                thread.start()
            time.sleep(2)  # the flood saturates the replica first
            busy = [timed(gold) for _ in range(args.requests)]
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            server.stop()
    result: dict[str, Any] = {
        "per_replica": args.per_replica,
        "replica_delay_s": args.delay,
        "flood_clients": args.flood,
        "tier1_idle": {"p50_ms": p(idle, 0.5), "p95_ms": p(idle, 0.95)},
        "tier1_saturated": {"p50_ms": p(busy, 0.5), "p95_ms": p(busy, 0.95)},
        "tier1_p95_ratio": round(p(busy, 0.95) / p(idle, 0.95), 3),
        "tier1_mean_ms": round(statistics.mean(busy), 2),
        "tier3": counts,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
