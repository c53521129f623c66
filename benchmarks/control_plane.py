"""Control-plane benchmarks: submit-to-running latency and API submit throughput.

Starts a real `aicc serve` (SQLite by default, or `--db URL`) in a temporary home and measures
through HTTP, as a user would. Results go to stdout as JSON; BENCHMARKS.md records them.
`--servers N` starts N of them on one PostgreSQL (each its own home and port, one secret key;
one leads the control loops) and spreads the clients over them in turn.

    .venv/bin/python benchmarks/control_plane.py --latency-jobs 20 --submits 500 --clients 8
    .venv/bin/python benchmarks/control_plane.py --workers 2 --submits 1000 --clients 8
    .venv/bin/python benchmarks/control_plane.py --rate 200 --rate-seconds 10   # p50, p99
    .venv/bin/python benchmarks/control_plane.py --postgres --submits 5000 --users 8  # 8 people
    .venv/bin/python benchmarks/control_plane.py --rate-limit-cost --submits 500 --clients 8
    .venv/bin/python benchmarks/control_plane.py --postgres --workers 2 --waiting 100000 \
        --latency-jobs 3 --submits 1500 --rate 500 --rate-seconds 60   # with 100,000 waiting
    .venv/bin/python benchmarks/control_plane.py --postgres --servers 2 --workers 2 \
        --waiting 100000 --latency-jobs 3 --submits 1500 --rate 500 --rate-seconds 60  # two APIs

`--rate-limit-cost` measures only submit throughput, on two fresh servers one after the other:
with the rate limiter (the default settings) and with `limits.rate_limit.enabled: false`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import psutil

from aicc.testing.servers import ServerProcess, close_all, free_port

T = TypeVar("T")


def event_time(events: list[dict[str, Any]], state: str) -> datetime:
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
        "p90_submit_to_running_s": (  # (one job: its own time)
            statistics.quantiles(server_side, n=10)[-1] if jobs > 1 else server_side[0]
        ),
        "median_client_observed_s": statistics.median(client_side),
    }


def throughput(
    servers: Sequence[ServerProcess],
    submits: int,
    clients: int,
    database: int | None = None,
    users: list[dict[str, str]] | None = None,
    queue: str = "bench",
    keep: bool = False,
) -> dict[str, Any]:
    """Clients submitting at once (keep-alive connections, as the SDK keeps) into a queue that
    places nothing (max_running=1, held by a long job), so only the submit path is measured.
    `users`: each client submits as one of them (`submitters`), else as the admin. `keep`: the
    lane stays held, its jobs waiting (`--waiting`: a backlog the next phase runs beside).
    The clients take the `servers` in turn; CPU counts every server's processes."""
    server = servers[0]  # any of them: they share the database
    holder = hold_a_lane(server, queue)
    posters = connected(servers, clients, users)
    next_submit = iter(range(submits))

    async def client(poster: Poster) -> list[int]:
        spec = {"command": "true", "queue": queue}
        return [await poster.post("/api/v1/jobs", spec, f"{queue}-{i}") for i in next_submit]

    busy, mine, db = servers_cpu_s(servers), own_cpu_s(), tree_cpu_s(database)
    started = time.monotonic()
    codes = [code for each in run_clients(client, posters) for code in each]
    elapsed = time.monotonic() - started
    busy, mine = servers_cpu_s(servers) - busy, own_cpu_s() - mine
    db = tree_cpu_s(database) - db
    assert len(codes) == submits and all(c == 201 for c in codes), set(codes)
    if not keep:
        release(server, holder)
    return {
        "submits": submits,
        "clients": clients,
        "submits_per_s": submits / elapsed,
        "server_cpu_ms_per_submit": 1000 * busy / submits,
        "client_cpu_ms_per_submit": 1000 * mine / submits,
        **({"database_cpu_ms_per_submit": 1000 * db / submits} if database else {}),
        **({"submits_by_server": shares(servers, posters)} if len(servers) > 1 else {}),
    }


def at_rate(
    servers: Sequence[ServerProcess],
    rate: float,
    seconds: float,
    clients: int,
    database: int | None = None,
    users: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Submits due at a fixed rate, each sent by the next free client and timed from when it
    was due (not from when a client was free to send it), so a server that falls behind shows
    in the latency; sustained for `seconds`. The clients take the `servers` in turn."""
    server = servers[0]  # any of them: they share the database
    holder = hold_a_lane(server, "paced")
    posters = connected(servers, clients, users)
    total = int(rate * seconds)
    next_submit = iter(range(total))
    start = time.monotonic() + 0.2

    async def client(poster: Poster) -> list[float]:
        spec, waits = {"command": "true", "queue": "paced"}, []
        for i in next_submit:
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            code = await poster.post("/api/v1/jobs", spec, f"r-{i}")
            assert code == 201, code
            waits.append(time.monotonic() - due)
        return waits

    busy, db = servers_cpu_s(servers), tree_cpu_s(database)
    latencies = sorted(w for each in run_clients(client, posters) for w in each)
    achieved = total / (time.monotonic() - start)
    busy, db = servers_cpu_s(servers) - busy, tree_cpu_s(database) - db
    release(server, holder)
    return {
        "rate": rate,
        "seconds": seconds,
        "achieved_per_s": achieved,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "server_cpu_ms_per_submit": 1000 * busy / total,
        **({"database_cpu_ms_per_submit": 1000 * db / total} if database else {}),
        **({"submits_by_server": shares(servers, posters)} if len(servers) > 1 else {}),
    }


def hold_a_lane(server: ServerProcess, queue: str) -> str:
    """A queue that runs one job at a time, and a long job holding it: what is submitted there
    waits, so a run measures the submit path and not the machine running jobs."""
    with server.client() as admin:
        admin.post("/api/v1/queues", json={"name": queue, "max_running": 1})
        job = admin.post("/api/v1/jobs", json={"command": "sleep 600", "queue": queue})
        return str(job.raise_for_status().json()["id"])


def connected(
    servers: Sequence[ServerProcess], clients: int, users: list[dict[str, str]] | None
) -> list[Poster]:
    """The clients, each to the next of `servers` and as the next of `users` (else that
    server's admin token: every home's is valid on the shared database); they connect on
    first use."""
    posters = []
    who = itertools.cycle(users or [{}])
    for i in range(clients):
        server = servers[i % len(servers)]
        headers = next(who) or {"Authorization": f"Bearer {server.token}"}
        posters.append(Poster(server.url, headers))
    return posters


def shares(servers: Sequence[ServerProcess], posters: list[Poster]) -> dict[str, int]:
    """How many submits each server took, by its name (`named`)."""
    return {
        name: sum(p.sent for p in posters if p.url == server.url) for name, server in named(servers)
    }


def run_clients(
    client: Callable[[Poster], Awaitable[list[T]]], posters: list[Poster]
) -> list[list[T]]:
    """Every client at once on one event loop, until the work they share runs out."""

    async def everyone() -> list[list[T]]:
        try:
            return await asyncio.gather(*(client(poster) for poster in posters))
        finally:
            for poster in posters:
                poster.close()

    return asyncio.run(everyone())


class Poster:
    """One client: a keep-alive HTTP/1.1 connection that posts a job and reads the status, a
    few tens of microseconds of CPU a submit. The load runs on the server's own two cores, and
    httpx from threads cost 0.7-1 ms a submit there (a third of a core at 500/s): wrk's way."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        address = urlsplit(url)
        self.url, self.sent = url, 0  # the server it posts to, and how many it posted
        self.host, self.port = address.hostname or "127.0.0.1", address.port or 80
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.retry_after: str | None = None  # the last `Retry-After` answered (a 429's)

    async def post(self, path: str, body: dict[str, Any], key: str) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        data = json.dumps(body).encode()
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}Idempotency-Key: {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            elif name.lower() == b"retry-after":
                self.retry_after = value.strip().decode()
        await reader.readexactly(length)
        self.sent += 1
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


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


def servers_cpu_s(servers: Sequence[ServerProcess]) -> float:
    """CPU seconds the servers have used, their worker processes included."""
    total = 0.0
    for server in servers:
        assert server.proc is not None
        total += tree_cpu_s(server.proc.pid)
    return total


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
    """Submit throughput with the rate limiter on and off, same machine, back to back. On,
    every request still takes from its token's and address's buckets, sized so that none
    empties: the default per-token burst (100, issue 35) would refuse most of one token's
    thousands of submits, and the figure is the check's cost, not the limit."""
    result: dict[str, Any] = {}
    for name, enabled in (("limiter_on", True), ("limiter_off", False)):
        home = tmp / name
        home.mkdir()
        config = {
            "limits": {
                "rate_limit": {**bench_config(1)["limits"]["rate_limit"], "enabled": enabled}
            }
        }
        (home / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
        server = ServerProcess(home, free_port(), db).start()
        try:
            result[name] = throughput([server], submits, clients)
        finally:
            server.close()
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
        "--waiting",
        type=int,
        default=0,
        help="first submit this many jobs behind a lane held all run long (a backlog)",
    )
    parser.add_argument(
        "--users", type=int, default=0, help="clients submit as this many users (default: admin)"
    )
    parser.add_argument(
        "--rate-limit-cost",
        action="store_true",
        help="only submit throughput, with the rate limiter and without it",
    )
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="this many servers on one PostgreSQL (--postgres or --db), clients spread over them",
    )
    args = parser.parse_args()
    if args.servers < 1:
        parser.error("--servers: give 1 or more")
    if args.servers > 1 and not (args.db or args.postgres):
        parser.error("--servers above 1 share one PostgreSQL: add --postgres or --db URL")
    database = None  # the PostgreSQL this run started: its CPU is counted too
    postgres = None
    servers: list[ServerProcess] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:  # an error or Ctrl-C anywhere stops every server and the database
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
            config = bench_config(args.workers)
            if args.servers > 1:  # the first to start makes it, the others read it
                config["secret_key_file"] = str(Path(tmp) / "secret.key")
            for n in range(args.servers):  # one at a time: the first migrates the database
                home = Path(tmp) / f"home-{n}"
                home.mkdir()
                (home / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
                servers.append(ServerProcess(home, free_port(), args.db))
                servers[-1].start()
            result = measure(servers, args, database)
            result["servers"] = len(servers)
            if len(servers) > 1:
                result["leader"] = [name for name, s in named(servers) if leading(s)]
        finally:
            close_all(servers)
            if postgres is not None:
                postgres.stop()
    result["machine"] = {
        "cpus": len(__import__("os").sched_getaffinity(0)),
        "python": platform.python_version(),
    }
    result["database"] = "postgresql" if args.db else "sqlite"
    result["workers"] = args.workers
    result["users"] = args.users or "admin"
    print(json.dumps(result, indent=2))


def measure(
    servers: list[ServerProcess], args: argparse.Namespace, database: int | None
) -> dict[str, Any]:
    """Latency (through the first server), then the backlog, throughput and rate phases."""
    with servers[0].client() as client:
        result: dict[str, Any] = {"latency": latency(client, args.latency_jobs)}
    users = submitters(servers[0], args.users)
    if args.waiting:
        result["backlog"] = throughput(
            servers, args.waiting, args.clients, database, users, "backlog", keep=True
        )
    result["throughput"] = throughput(servers, args.submits, args.clients, database, users)
    if args.rate:
        result["at_rate"] = at_rate(
            servers, args.rate, args.rate_seconds, args.clients, database, users
        )
    return result


def named(servers: Sequence[ServerProcess]) -> list[tuple[str, ServerProcess]]:
    """Each server with its name in the output: server-0, server-1, ..."""
    return [(f"server-{n}", server) for n, server in enumerate(servers)]


def leading(server: ServerProcess) -> bool:
    """Whether this server holds the leader lease (runs the control loops)."""
    return bool(httpx.get(server.url + "/healthz", timeout=10).json().get("leader"))


if __name__ == "__main__":
    main()
