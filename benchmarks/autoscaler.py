"""The autoscaler's reaction to a replayed burst: how soon it scales up, and whether it flaps.

Starts a real `aicc serve` (SQLite, the default autoscaler: stable window 60 s, panic 6 s;
`scale_to_zero_after_s` shortened to 20 s for the last part only), a deployment of
`aicc/testing/upstream.py` answering each request after `--delay` s (1 s) (min 1, max `--max`
replicas, target concurrency 2), an API key, and replays a load through the gateway as Poisson
arrivals (open loop: a request leaves at its time whether or not earlier ones came back):

- settle: `--rate` req/s until the start-up panic is over (not measured);
- steady: `--rate` req/s for `--steady` s: changes of `desired` and of ready replicas (0 = no
  flapping);
- burst: `--burst`x the rate for `--burst-seconds` s: from the burst's first request to
  `desired` rising (the decision), to the first new replica ready, and to all the replicas
  wanted being ready (what a user feels); latency p50/p99 and failures during the burst;
- after: `--rate` req/s again for `--after` s: when `desired` first falls and settles, and how
  often it turned (a scale-down that goes back up is oscillation);
- zero: min replicas set to 0 and no load: when it reaches 0, then one request's latency
  (the cold start).

A monitor polls the deployment (`GET /api/v1/deployments/NAME`) every 0.25 s: times are ±0.25 s
plus the controller's pass (0.5 s), at which a replica not yet ready is probed.

    .venv/bin/python benchmarks/autoscaler.py [--rate 2.5 --delay 1 --burst 10 --max 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import shlex
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from aicc.testing import upstream
from aicc.testing.polling import wait
from aicc.testing.servers import ServerProcess, free_port

NAME = "bench"
BODY = {"model": NAME, "messages": [{"role": "user", "content": "a burst"}]}


@dataclass(frozen=True)
class Seen:
    """One poll of the deployment."""

    at: float
    desired: int
    ready: int  # ready replicas of the current revision
    running: int  # replica jobs of any kind (a draining one too)


@dataclass
class Sent:
    at: float
    ms: float | None = None  # None: failed
    status: int | None = None  # the answer's, None: no answer

    def end(self, horizon: float) -> float:
        return self.at + self.ms / 1000 if self.ms is not None else horizon


class Monitor(threading.Thread):
    """Polls the deployment's `desired` and ready replicas until stopped."""

    def __init__(self, api: httpx.Client, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.api, self.every, self.seen = api, every, list[Seen]()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                shown = self.api.get(f"/api/v1/deployments/{NAME}").json()
                ready = sum(
                    1
                    for r in shown["replicas"]
                    if r["ready"] and r["revision"] == shown["revision"]
                )
                seen = Seen(time.monotonic(), shown["desired"], ready, len(shown["replicas"]))
                self.seen.append(seen)
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            self.halt.wait(self.every)

    def between(self, start: float, end: float) -> list[Seen]:
        return [s for s in self.seen if start <= s.at < end]


async def send(client: httpx.AsyncClient, url: str, record: Sent) -> None:
    """One chat completion; its latency into `record` if it succeeded."""
    try:
        answer = await client.post(url, json=BODY)
        record.status = answer.status_code
        if answer.status_code == 200:
            record.ms = (time.monotonic() - record.at) * 1000
    except httpx.HTTPError:
        pass


async def poisson(
    client: httpx.AsyncClient, url: str, rate: float, seconds: float, rng: random.Random
) -> list[Sent]:
    """Poisson arrivals at `rate` per s for `seconds`, each sent at its time."""
    sent: list[Sent] = []
    tasks = []
    start = time.monotonic()
    due = start + rng.expovariate(rate)
    while due < start + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        record = Sent(time.monotonic())
        sent.append(record)
        tasks.append(asyncio.create_task(send(client, url, record)))
        due += rng.expovariate(rate)
    await asyncio.gather(*tasks)
    return sent


def changes(seen: list[Seen], field: str) -> int:
    values = [getattr(s, field) for s in seen]
    return sum(1 for a, b in itertools.pairwise(values) if a != b)


def ups_after_down(seen: list[Seen]) -> int:
    """Rises of `desired` after its first fall: a scale-down that goes back up oscillates."""
    moves = [b.desired - a.desired for a, b in itertools.pairwise(seen)]
    fell = next((i for i, m in enumerate(moves) if m < 0), len(moves))
    return sum(1 for m in moves[fell:] if m > 0)


def in_flight(sent: list[Sent], at: float, window: float) -> float:
    """The mean requests in flight over (at - window, at], as the client saw them."""
    start = at - window
    area = sum(max(0.0, min(s.end(at), at) - max(s.at, start)) for s in sent)
    return round(area / window, 2)


def why(seen: list[Seen], sent: list[Sent]) -> list[dict[str, Any]]:
    """Each change of `desired`, with the load the client had in flight before it (over the
    panic window, 6 s, and the stable window, 60 s)."""
    return [
        {
            "at_s": round(b.at - seen[0].at, 1),
            "desired": f"{a.desired}->{b.desired}",
            "ready_then": a.ready,
            "in_flight_6s": in_flight(sent, b.at, 6.0),
            "in_flight_60s": in_flight(sent, b.at, 60.0),
        }
        for a, b in itertools.pairwise(seen)
        if a.desired != b.desired
    ]


def first(seen: list[Seen], test: Any) -> float | None:
    return next((s.at for s in seen if test(s)), None)


def since(t: float | None, origin: float) -> float | None:
    return None if t is None else round(t - origin, 2)


def latency(sent: list[Sent]) -> dict[str, Any]:
    ok = sorted(s.ms for s in sent if s.ms is not None)
    failed: dict[str, int] = {}
    for s in sent:
        if s.ms is None:
            failed[str(s.status)] = failed.get(str(s.status), 0) + 1
    if not ok:
        return {"requests": len(sent), "failed": len(sent), "failed_by_status": failed}
    return {
        "requests": len(sent),
        "failed": len(sent) - len(ok),
        "failed_by_status": failed,
        "p50_ms": round(statistics.median(ok), 1),
        "p99_ms": round(ok[min(len(ok) - 1, int(len(ok) * 0.99))], 1),
        "max_ms": round(ok[-1], 1),
    }


async def replay(
    args: argparse.Namespace, server: ServerProcess, api: httpx.Client, key: str
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    url = server.url + "/v1/chat/completions"
    monitor = Monitor(api)
    monitor.start()
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    headers = {"Authorization": f"Bearer {key}"}
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=600, limits=limits, headers=headers) as client:
        settle = await poisson(client, url, args.rate, args.settle, rng)

        t0 = time.monotonic()
        steady = await poisson(client, url, args.rate, args.steady, rng)
        t1 = time.monotonic()
        seen = monitor.between(t0, t1)
        out["steady"] = {
            "seconds": args.steady,
            "rate_per_s": args.rate,
            "desired": sorted({s.desired for s in seen}),
            "desired_changes": changes(seen, "desired"),
            "ready_changes": changes(seen, "ready"),
            "changes": why(monitor.between(t0 - 1, t1), settle + steady),
            "latency": latency(steady),
        }

        burst = await poisson(client, url, args.rate * args.burst, args.burst_seconds, rng)
        t2 = time.monotonic()
        start = burst[0].at
        before = monitor.between(t0, start)[-1]
        seen = monitor.between(start, t2)
        peak = max([s.desired for s in seen], default=before.desired)
        out["burst"] = {
            "seconds": args.burst_seconds,
            "rate_per_s": args.rate * args.burst,
            "desired_before": before.desired,
            "desired_peak": peak,
            "decision_s": since(first(seen, lambda s: s.desired > before.desired), start),
            "first_new_ready_s": since(first(seen, lambda s: s.ready > before.ready), start),
            "all_ready_s": since(first(seen, lambda s: s.ready >= peak), start),
            "latency": latency(burst),
        }

        after = await poisson(client, url, args.rate, args.after, rng)
        t3 = time.monotonic()
        seen = monitor.between(t2, t3)
        final = seen[-1].desired if seen else None
        out["after"] = {
            "seconds": args.after,
            "rate_per_s": args.rate,
            "first_down_s": since(first(seen, lambda s: s.desired < peak), t2),
            "settled_s": since(first(seen, lambda s: s.desired == final), t2),
            "desired_final": final,
            "ready_final": seen[-1].ready if seen else None,
            "desired_path": [
                s.desired
                for s, n in zip(seen, [None, *seen], strict=False)
                if n is None or s.desired != n.desired
            ],
            "ups_after_down": ups_after_down(monitor.between(start, t3)),
            "changes": why(monitor.between(start, t3), steady + burst + after),
            "latency": latency(after),
        }

        if args.zero:
            last = max(s.at for s in after)
            api.post(f"/api/v1/deployments/{NAME}/scale", json={"min_replicas": 0})
            zero = await asyncio.to_thread(
                wait,
                "the deployment to scale to zero",
                lambda: next(
                    (s for s in monitor.seen[-1:] if s.desired == 0 and not s.running), None
                ),
                args.zero_timeout,
                0.5,
            )
            cold = Sent(time.monotonic())
            await send(client, url, cold)
            out["zero"] = {
                "scale_to_zero_after_s": 20,
                "zero_after_last_request_s": round(zero.at - last, 2),
                "cold_start_ms": None if cold.ms is None else round(cold.ms, 1),
            }
    monitor.halt.set()
    monitor.join()
    return out


def table(result: dict[str, Any]) -> str:
    s, b, a = result["steady"], result["burst"], result["after"]
    rows = [
        ("steady: desired seen", s["desired"]),
        ("steady: changes of desired / ready", f"{s['desired_changes']} / {s['ready_changes']}"),
        ("steady: p50 / p99 ms", f"{s['latency'].get('p50_ms')} / {s['latency'].get('p99_ms')}"),
        ("burst: desired before -> peak", f"{b['desired_before']} -> {b['desired_peak']}"),
        ("burst: decision s (goal <= 6)", b["decision_s"]),
        ("burst: first new replica ready s", b["first_new_ready_s"]),
        ("burst: all wanted ready s", b["all_ready_s"]),
        (
            "burst: p50 / p99 ms, failed",
            f"{b['latency'].get('p50_ms')} / {b['latency'].get('p99_ms')}, "
            f"{b['latency']['failed']} of {b['latency']['requests']}",
        ),
        ("after: first scale-down s after burst", a["first_down_s"]),
        ("after: settled s, at desired", f"{a['settled_s']}, {a['desired_final']}"),
        ("after: desired path", a["desired_path"]),
        ("after: rises after the first fall", a["ups_after_down"]),
    ]
    if "zero" in result:
        z = result["zero"]
        rows.append(("zero: no replica s after last request", z["zero_after_last_request_s"]))
        rows.append(("zero: cold start ms (first request)", z["cold_start_ms"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2.5, help="steady requests per second")
    parser.add_argument("--delay", type=float, default=1.0, help="each answer's time, s")
    parser.add_argument("--max", type=int, default=10, help="max replicas")
    parser.add_argument("--burst", type=float, default=10.0, help="the burst's rate, x --rate")
    parser.add_argument(
        "--settle", type=float, default=120.0, help="s before measuring: the start-up panic ends"
    )
    parser.add_argument("--steady", type=float, default=120.0, help="s")
    parser.add_argument("--burst-seconds", type=float, default=40.0, help="s")
    parser.add_argument("--after", type=float, default=150.0, help="s")
    parser.add_argument("--no-zero", dest="zero", action="store_false", help="skip scale to zero")
    parser.add_argument("--zero-timeout", type=float, default=240.0, help="s")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="the JSON summary, not the table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(
            "limits: {rate_limit: {enabled: false}}\n"
            "deployments: {scale_to_zero_after_s: 20}\n"  # used only once min is 0
        )
        server = ServerProcess(home, free_port()).start()
        try:
            load_before = os.getloadavg()
            with server.client() as api:
                body = {
                    "name": NAME,
                    "command": shlex.join(upstream.command()),
                    "env": {"UPSTREAM_DELAY_S": str(args.delay)},
                    "min_replicas": 1,
                    "max_replicas": args.max,
                    "target_concurrency": 2,
                    "resources": {"cpu": 0.1, "memory": "128MiB"},
                }
                made = api.post("/api/v1/deployments", json=body)
                assert made.status_code == 201, made.text
                wait(
                    "the first replica",
                    lambda: (
                        api.get(f"/api/v1/deployments/{NAME}").json()["state"] == "ready" or None
                    ),
                    timeout=90,
                )
                key = api.post("/api/v1/keys", json={"name": "bench"}).json()["secret"]
                result = asyncio.run(replay(args, server, api, key))
            result = {
                "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
                "load_avg_1m": {
                    "before": round(load_before[0], 2),
                    "after": round(os.getloadavg()[0], 2),
                },
                "delay_s": args.delay,
                "target_concurrency": 2,
                "max_replicas": args.max,
                **result,
            }
        finally:
            server.close()
    print(json.dumps(result, indent=2) if args.json else table(result))


if __name__ == "__main__":
    main()
