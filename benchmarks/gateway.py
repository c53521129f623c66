"""The gateway's added latency against LiteLLM's proxy, in front of the same fast upstream.

Starts a real `aicc serve` (SQLite) in a temporary home, a deployment of one replica job
running `aicc/testing/upstream.py` (answers at once), an API key, and LiteLLM's proxy
(`litellm --config`, from its own virtualenv, master key set) routed to the same replica.
Then it sends non-streaming chat completions at a fixed rate (open loop: a request leaves
every 1/rate s whether or not the previous one came back) to the replica directly, through
AICC's gateway (metering on: every request is written to the request log, by default before
its answer goes out, `--no-durable-log`: right after), and through LiteLLM, each path in turn
for `--rounds` rounds, and reports each path's latency and the latency it adds over the direct
one (p50, p99). JSON on stdout; BENCHMARKS.md records it.

Sandboxed (bubblewrap found), the replica listens in its job's network namespace and is reached
through its Unix socket alone (services/jobs/endpoints.py): the direct path goes through it too.
LiteLLM calls a URL, so `--litellm` runs the center with `sandbox: off` (the replica on TCP).

    python -m venv /work/venv-litellm && /work/venv-litellm/bin/pip install 'litellm[proxy]'
    .venv/bin/python benchmarks/gateway.py --rate 5 --seconds 60 --rounds 6 \
        --litellm /work/venv-litellm/bin/litellm [--no-durable-log]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from aicc.store.db import Database, database_url
from aicc.testing.deployments import deploy
from aicc.testing.servers import ServerProcess, free_port

MASTER_KEY = "sk-" + secrets.token_hex(32)
BODY = {"model": "chat", "messages": [{"role": "user", "content": "how fast is the gateway"}]}


async def load(
    url: str, key: str, rate: float, seconds: float, uds: str | None = None
) -> list[float | None]:
    """Requests at a fixed rate for `seconds` (after a warm-up): each one's latency in ms,
    None for a failed one. `uds`: through this Unix socket (a replica's)."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    transport = httpx.AsyncHTTPTransport(uds=uds, limits=limits) if uds else None
    async with httpx.AsyncClient(timeout=30, limits=limits, transport=transport) as client:

        async def one() -> float | None:
            sent = time.perf_counter()
            try:
                answer = await client.post(url, json=BODY, headers=headers)
            except httpx.HTTPError:
                return None
            return (time.perf_counter() - sent) * 1000 if answer.status_code == 200 else None

        for _ in range(10):  # warm-up: connections, caches
            await one()
        tasks = []
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        return list(await asyncio.gather(*tasks))


def summary(results: list[float | None]) -> dict[str, Any]:
    ok = sorted(r for r in results if r is not None)
    return {
        "requests": len(results),
        "failed": len(results) - len(ok),
        "p50_ms": round(statistics.median(ok), 3),
        "p99_ms": round(ok[min(len(ok) - 1, int(len(ok) * 0.99))], 3),
        "mean_ms": round(statistics.fmean(ok), 3),
    }


def start_litellm(binary: str, upstream: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = home / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "chat",
                        "litellm_params": {
                            "model": "openai/chat",
                            "api_base": upstream + "/v1",
                            "api_key": "none",
                        },
                    }
                ],
                "litellm_settings": {"telemetry": False},
                "general_settings": {"master_key": MASTER_KEY},  # it checks keys too
            }
        )
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen(
        [binary, "--config", str(config), "--port", str(port), "--num_workers", "1"],
        stdout=open(home / "litellm.log", "ab"),  # noqa: SIM115 (kept open for the child)
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited with {proc.returncode}; see {home}/litellm.log")
        try:
            if httpx.get(url + "/health/liveliness", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError("litellm did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="per path, in all")
    parser.add_argument("--rounds", type=int, default=5, help="each path in turn, this often")
    parser.add_argument("--litellm", default=None, help="the `litellm` command (its venv's)")
    parser.add_argument(
        "--no-durable-log",
        action="store_true",
        help="gateway.durable_log false: records committed right after the answer",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        durable = "false" if args.no_durable_log else "true"
        (home / "config.yaml").write_text(
            f"limits: {{rate_limit: {{enabled: false}}}}\ngateway: {{durable_log: {durable}}}\n"
            + ("sandbox: 'off'\n" if args.litellm else "")
        )
        server = ServerProcess(home, free_port()).start()
        litellm = None
        try:
            db = Database(database_url(None, home))
            with server.client() as api:
                dep = deploy(api, "chat")
                made = api.post("/api/v1/keys", json={"name": "bench"})
                key = made.json()["secret"]
            from aicc.services.jobs import endpoints

            with db.reader() as session:
                replica = endpoints.of_job(session, dep.jobs[0])[0]
            upstream, socket = replica.url, replica.socket
            paths = {
                "direct": (upstream + "/v1/chat/completions", "none"),
                "aicc": (server.url + "/v1/chat/completions", key),
            }
            if args.litellm:
                litellm, litellm_url = start_litellm(args.litellm, upstream, Path(tmp))
                paths["litellm"] = (litellm_url + "/v1/chat/completions", MASTER_KEY)
            # In rounds, each path in turn, so that a busy moment of the machine falls on all
            latencies: dict[str, list[float | None]] = {name: [] for name in paths}
            for _ in range(args.rounds):
                for name, (url, secret) in paths.items():
                    seconds = args.seconds / args.rounds
                    uds = socket if name == "direct" else None
                    latencies[name] += asyncio.run(load(url, secret, args.rate, seconds, uds))
            results = {name: summary(found) for name, found in latencies.items()}
            with db.reader() as session:
                from sqlalchemy import func, select

                from aicc.store.tables.serving import GatewayRequestRow

                logged = session.scalar(select(func.count()).select_from(GatewayRequestRow))
            direct = results["direct"]
            added = {
                name: {
                    "p50_ms": round(r["p50_ms"] - direct["p50_ms"], 3),
                    "p99_ms": round(r["p99_ms"] - direct["p99_ms"], 3),
                }
                for name, r in results.items()
                if name != "direct"
            }
            ratio = None
            if "litellm" in added:
                ratio = {
                    q: round(added["aicc"][q] / added["litellm"][q], 3)
                    if added["litellm"][q] > 0
                    else None
                    for q in ("p50_ms", "p99_ms")
                }
            print(
                json.dumps(
                    {
                        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
                        "rate_per_s": args.rate,
                        "durable_log": not args.no_durable_log,
                        "replica_reached_through": "unix socket" if socket else "tcp",
                        "seconds": args.seconds,
                        "rounds": args.rounds,
                        "latency": results,
                        "added": added,
                        "aicc_over_litellm": ratio,
                        "aicc_request_log_rows": logged,
                    },
                    indent=2,
                )
            )
        finally:
            if litellm is not None:
                litellm.terminate()
                litellm.wait(timeout=30)
            server.close()


if __name__ == "__main__":
    main()
