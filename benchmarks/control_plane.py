"""Control-plane benchmarks: submit-to-running latency and API submit throughput.

Starts a real `aicc serve` (SQLite by default, or `--db URL`) in a temporary home and measures
through HTTP, as a user would. Results go to stdout as JSON; BENCHMARKS.md records them.

    .venv/bin/python benchmarks/control_plane.py --latency-jobs 20 --submits 500 --clients 8
    .venv/bin/python benchmarks/control_plane.py --workers 2 --submits 1000 --clients 8
    .venv/bin/python benchmarks/control_plane.py --rate 200 --rate-seconds 10   # p50, p99
    .venv/bin/python benchmarks/control_plane.py --postgres --submits 5000 --users 8  # 8 people
    .venv/bin/python benchmarks/control_plane.py --rate-limit-cost --submits 500 --clients 8

`--rate-limit-cost` measures only submit throughput, on two fresh servers one after the other:
with the rate limiter (the default settings) and with `limits.rate_limit.enabled: false`.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import platform
import queue
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from aicc.testing.servers import ServerProcess, free_port


def event_time(events: list[dict], state: str) -> datetime:
    return datetime.fromisoformat(next(e["at"] for e in events if e["to_state"] == state))


def latency(client: httpx.Client, jobs: int) -> dict[str, float]:
    """One job at a time on an idle server: POST until the replica's process has started."""
    server_side, client_side = [], []
    for _ in range(jobs):
        sent = time.monotonic()
        job = client.post(
            "/api/v1/jobs", json={"command": "sleep 0.2", "resources": {"cpu": "100m"}}
        ).json()
        while True:
            state = client.get(f"/api/v1/jobs/{job['id']}").json()
            if state["state"] in ("running", "succeeded", "failed"):
                break
            time.sleep(0.005)
        client_side.append(time.monotonic() - sent)
        events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
        server_side.append(
            (event_time(events, "running") - event_time(events, "pending")).total_seconds()
        )
        while client.get(f"/api/v1/jobs/{job['id']}").json()["state"] not in (
            "succeeded",
            "failed",
        ):
            time.sleep(0.05)
    return {
        "median_submit_to_running_s": statistics.median(server_side),
        "p90_submit_to_running_s": statistics.quantiles(server_side, n=10)[-1],
        "median_client_observed_s": statistics.median(client_side),
    }


def throughput(
    server: ServerProcess,
    submits: int,
    clients: int,
    database: int | None = None,
    users: list[dict[str, str]] | None = None,
) -> dict[str, float]:
    """Clients submitting at once (keep-alive connections, as the SDK keeps) into a queue that
    places nothing (max_running=1, held by a long job), so only the submit path is measured.
    `users`: each client submits as one of them (`submitters`), else as the admin."""
    with server.client() as admin:
        admin.post("/api/v1/queues", json={"name": "bench", "max_running": 1})
        holder = admin.post(
            "/api/v1/jobs", json={"command": "sleep 600", "queue": "bench"}
        )  # holds the lane
    local = threading.local()
    who = itertools.cycle(users or [{}])

    def one(i: int) -> int:
        if not hasattr(local, "client"):
            local.client = server.client()
            local.client.headers.update(next(who))
        spec = {"command": "true", "queue": "bench"}
        return local.client.post(
            "/api/v1/jobs", json=spec, headers={"Idempotency-Key": f"b-{i}"}
        ).status_code

    busy, mine, db = server_cpu_s(server), own_cpu_s(), tree_cpu_s(database)
    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        codes = list(pool.map(one, range(submits)))
    elapsed = time.monotonic() - started
    busy, mine, db = server_cpu_s(server) - busy, own_cpu_s() - mine, tree_cpu_s(database) - db
    assert all(c == 201 for c in codes), set(codes)
    release(server, holder.json()["id"])
    return {
        "submits": submits,
        "clients": clients,
        "submits_per_s": submits / elapsed,
        "server_cpu_ms_per_submit": 1000 * busy / submits,
        "client_cpu_ms_per_submit": 1000 * mine / submits,
        **({"database_cpu_ms_per_submit": 1000 * db / submits} if database else {}),
    }


def at_rate(
    server: ServerProcess,
    rate: float,
    seconds: float,
    clients: int,
    users: list[dict[str, str]] | None = None,
) -> dict[str, float]:
    """Submits sent at a fixed rate by `clients` threads, each timed from when it was due (not
    from when a free client sent it), so a server that falls behind shows in the latency."""
    with server.client() as admin:
        admin.post("/api/v1/queues", json={"name": "paced", "max_running": 1})
        holder = admin.post("/api/v1/jobs", json={"command": "sleep 600", "queue": "paced"})
    # Each thread's client made and connected before the clock starts (as the SDK keeps one):
    # making an httpx client loads the CA store, tens of milliseconds, not the server's time.
    ready: queue.SimpleQueue[httpx.Client] = queue.SimpleQueue()
    who = itertools.cycle(users or [{}])
    for _ in range(clients):
        client = server.client()
        client.headers.update(next(who))
        client.get("/healthz")
        ready.put(client)
    local = threading.local()
    start = time.monotonic() + 0.2
    total = int(rate * seconds)

    def one(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = ready.get()
        due = start + i / rate
        time.sleep(max(0.0, due - time.monotonic()))
        spec = {"command": "true", "queue": "paced"}
        code = local.client.post(
            "/api/v1/jobs", json=spec, headers={"Idempotency-Key": f"r-{i}"}
        ).status_code
        assert code == 201, code
        return time.monotonic() - due

    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(one, range(total)))
    achieved = total / (time.monotonic() - start)
    release(server, holder.json()["id"])
    return {
        "rate": rate,
        "achieved_per_s": achieved,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def submitters(server: ServerProcess, users: int) -> list[dict[str, str]]:
    """`users` members of the admin's organization, a token each (headers to send): a center's
    submits come from many people, and each one's pending limit counts only their own jobs."""
    out = []
    with server.client() as admin:
        for i in range(users):
            user = admin.post("/api/v1/users", json={"name": f"bench-{i}", "role": "member"})
            made = {"name": "bench", "user_id": user.raise_for_status().json()["id"]}
            token = admin.post("/api/v1/tokens", json=made).raise_for_status().json()
            out.append({"Authorization": f"Bearer {token['secret']}"})
    return out


def release(server: ServerProcess, holder: str) -> None:
    """Cancel the job that held a lane and wait for it to end: its replica would otherwise
    outlive the server by ten minutes (a server stopped keeps its replicas running)."""
    with server.client() as admin:
        admin.post(f"/api/v1/jobs/{holder}/cancel")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if admin.get(f"/api/v1/jobs/{holder}").json()["state"] == "cancelled":
                return
            time.sleep(0.1)


def server_cpu_s(server: ServerProcess) -> float:
    """CPU seconds the server has used, its worker processes included."""
    assert server.proc is not None
    return tree_cpu_s(server.proc.pid)


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds a process and its children have used (0 without a process)."""
    if pid is None:
        return 0.0
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def own_cpu_s() -> float:
    """CPU seconds the clients (this process) have used: they share the machine's cores."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def rate_limit_cost(tmp: Path, db: str | None, submits: int, clients: int) -> dict[str, Any]:
    """Submit throughput with the rate limiter on and off, same machine, back to back."""
    result: dict[str, Any] = {}
    for name, enabled in (("limiter_on", True), ("limiter_off", False)):
        home = tmp / name
        home.mkdir()
        config = {"limits": {"rate_limit": {"enabled": enabled}}}
        (home / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
        server = ServerProcess(home, free_port(), db).start()
        try:
            result[name] = throughput(server, submits, clients)
        finally:
            server.stop()
    on, off = result["limiter_on"]["submits_per_s"], result["limiter_off"]["submits_per_s"]
    result["on_over_off"] = on / off
    return result


def bench_config(workers: int) -> dict[str, Any]:
    """One admin token sends every submit: room for all of them waiting, and buckets (still
    counted) that a run of thousands never empties."""
    buckets = {
        f"per_{who}_{what}": 10**6 for who in ("token", "address") for what in ("per_s", "burst")
    }
    return {
        "workers": workers,
        "limits": {"max_pending_per_user": 10**6, "rate_limit": buckets},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-jobs", type=int, default=20)
    parser.add_argument("--submits", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--db", default=None, help="PostgreSQL URL; default SQLite")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--workers", type=int, default=1, help="the server's processes")
    parser.add_argument(
        "--rate", type=float, default=None, help="also submit at this fixed rate: p50 and p99"
    )
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument(
        "--users", type=int, default=0, help="clients submit as this many users (default: admin)"
    )
    parser.add_argument(
        "--rate-limit-cost",
        action="store_true",
        help="only submit throughput, with the rate limiter and without it",
    )
    args = parser.parse_args()
    database = None  # the PostgreSQL this run started: its CPU is counted too
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            from aicc.testing.postgres import start_postgres

            postgres = start_postgres(Path(tmp) / "pg")
            args.db = postgres.url
            pidfile = postgres.data_dir / "postmaster.pid"
            database = int(pidfile.read_text().split()[0])
        if args.rate_limit_cost:
            result = rate_limit_cost(Path(tmp), args.db, args.submits, args.clients)
            result["database"] = "postgresql" if args.db else "sqlite"
            print(json.dumps(result, indent=2))
            return
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(json.dumps(bench_config(args.workers)))  # JSON is YAML
        server = ServerProcess(home, free_port(), args.db).start()
        try:
            with server.client() as client:
                result = {"latency": latency(client, args.latency_jobs)}
            users = submitters(server, args.users)
            result["throughput"] = throughput(server, args.submits, args.clients, database, users)
            if args.rate:
                result["at_rate"] = at_rate(
                    server, args.rate, args.rate_seconds, args.clients, users
                )
        finally:
            server.stop()
    result["machine"] = {
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version(),
    }
    result["database"] = "postgresql" if args.db else "sqlite"
    result["workers"] = args.workers
    result["users"] = args.users or "admin"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
