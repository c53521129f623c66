"""Notifications: the latency from an event to its delivery at a steady rate (issue 40).

A real server in this process (SQLite by default, `--postgres` for a throwaway PostgreSQL, its
loops and the deliveries' thread running) with one signed webhook channel to a real HTTP
receiver on this machine; events are emitted at `--rate` a second for `--seconds`, each in a
transaction of its own as a job's end or a quota change writes it. The latency is the
receiver's clock at arrival minus the event's time (the same clock). Prints JSON: p50, p99 and
max in milliseconds, how many arrived, and how many arrived more than once (0: exactly once).

    .venv/bin/python benchmarks/notify_latency.py --rate 100 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aicc.services.notify import events
from aicc.testing.postgres import start_postgres
from aicc.testing.servers import admin, in_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="events a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--batch", type=int, default=20, help="notify.batch: claimed at once")
    args = parser.parse_args()
    total = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "arrivals.tsv"
        spawn = multiprocessing.get_context("spawn")
        ports: multiprocessing.Queue[int] = spawn.Queue()
        receiver = spawn.Process(target=_receive, args=(log, ports), daemon=True)
        receiver.start()
        hook = f"http://127.0.0.1:{ports.get(timeout=60)}/hook"
        postgres = start_postgres(Path(tmp) / "pg") if args.postgres else None
        try:
            notify = {"private_hosts": ["127.0.0.1"], "batch": args.batch}
            url = postgres.url if postgres is not None else None
            with in_process(Path(tmp) / "home", url, notify=notify) as (api, state):
                channel = {"name": "bench", "kind": "webhook", "target": hook, "secret": "k"}
                made = api.post("/api/v1/notify/channels", json={**channel, "events": ["quota.*"]})
                assert made.status_code == 201, made.text
                who = admin(state, Path(tmp) / "home")
                started = time.perf_counter()
                for i in range(total):
                    _pace(started, i / args.rate)
                    with state.db.session() as session:
                        events.emit(
                            session,
                            "quota.changed",
                            org_id=who.org_id,
                            user_id=who.user_id,
                            subject=f"benchmark event {i}",
                            body="a quota changed",
                            key=f"bench:{i}",
                        )
                emitted_s = time.perf_counter() - started
                deadline = time.monotonic() + 60
                while len(_arrivals(log)) < total and time.monotonic() < deadline:
                    time.sleep(0.2)
        finally:
            receiver.terminate()
            receiver.join(10)
            if postgres is not None:
                postgres.stop()
        arrived = _arrivals(log)
    print(json.dumps(_figures(args, arrived, total, emitted_s), indent=2))


def _receive(log: Path, ports: multiprocessing.Queue[int]) -> None:
    """The webhook's receiver, in a process of its own as a real one is on another machine
    (in the server's process it took turns with the server for Python's lock, and its answers
    waited on them): HTTP/1.1, so the server's client keeps its connections."""

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock, log.open("a") as out:
                out.write(f"{body['id']}\t{body['event']['at']}\t{time.time()}\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    lock = threading.Lock()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    ports.put(server.server_address[1])
    server.serve_forever()


def _arrivals(log: Path) -> list[tuple[str, str, float]]:
    """What the receiver logged: (delivery id, event at, arrival), whole lines only."""
    if not log.exists():
        return []
    lines = log.read_text().split("\n")[:-1]
    return [(i, at, float(when)) for i, at, when in (line.split("\t") for line in lines)]


def _pace(started: float, at_s: float) -> None:
    """Wait until `at_s` after `started` (a steady rate, not a burst)."""
    ahead = at_s - (time.perf_counter() - started)
    if ahead > 0:
        time.sleep(ahead)


def _epoch(at: str) -> float:
    """An event's ISO time (UTC when it names no zone, as SQLite gives it back) in seconds."""
    moment = datetime.fromisoformat(at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _figures(
    args: argparse.Namespace, arrived: list[tuple[str, str, float]], total: int, emitted_s: float
) -> dict[str, Any]:
    first: dict[str, tuple[str, float]] = {}
    for delivery_id, at, when in arrived:
        first.setdefault(delivery_id, (at, when))
    latencies = sorted(1000 * (when - _epoch(at)) for at, when in first.values())
    repeats = sum(n - 1 for n in Counter(a[0] for a in arrived).values())
    cut = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
    return {
        "database": "postgresql" if args.postgres else "sqlite",
        "rate_per_s": args.rate,
        "emitted": total,
        "emitted_in_s": round(emitted_s, 2),
        "arrived": len(first),
        "arrived_twice": repeats,
        "p50_ms": round(cut[49], 1) if cut else None,
        "p99_ms": round(cut[98], 1) if cut else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
    }


if __name__ == "__main__":
    main()
