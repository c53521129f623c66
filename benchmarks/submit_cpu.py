"""The submit path's CPU: what one `POST /api/v1/jobs` costs the server, apart from the rest.

Starts a real `aicc serve` as `control_plane.py` does (SQLite, or a throwaway PostgreSQL with
`--postgres`), holds a lane with a long job, warms the server up, then has `--clients`
keep-alive clients submit `--submits` jobs of one fixed spec behind that lane, and reports the
CPU seconds each process of the server used per submit (psutil): with `--workers 2` the API
workers apart from the first process, which runs the loops. `--profile FILE` records the server
with py-spy while the submits run (collapsed stacks for `.txt`, a flame graph for `.svg`, else
speedscope JSON).

    .venv/bin/python -m benchmarks.submit_cpu --submits 3000
    .venv/bin/python -m benchmarks.submit_cpu --postgres --workers 2 --submits 3000
    .venv/bin/python -m benchmarks.submit_cpu --submits 3000 --rate 150   # small batches
    .venv/bin/python -m benchmarks.submit_cpu --submits 3000 --profile /tmp/submit.txt

"Before" figures: the same with an older tree's package first on PYTHONPATH (`aicc serve` runs as
a script, so it imports that one; the report names it: `server_package`). Run it with `-m`, from
the repository's root: it shares `control_plane.py`'s clients.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from aicc.testing.servers import ServerProcess, free_port
from benchmarks.control_plane import (
    Poster,
    bench_config,
    connected,
    hold_a_lane,
    own_cpu_s,
    release,
    run_clients,
    tree_cpu_s,
)

FORMATS = {".svg": "flamegraph", ".txt": "raw"}  # py-spy's by the file's name; else speedscope
SPEC: dict[str, Any] = {"command": "true", "queue": "bench", "resources": {"cpu": "100m"}}


def cpu_by_process(root: int) -> dict[int, float]:
    """CPU seconds used so far by the server's processes (the first one and its children)."""
    out: dict[int, float] = {}
    top = psutil.Process(root)
    for proc in [top, *top.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[proc.pid] = times.user + times.system
    return out


def submit(posters: list[Poster], count: int, prefix: str, rate: float = 0.0) -> list[int]:
    """`count` submits from the clients, as fast as answers come back, or `rate` a second (each
    sent when due by the next free client: the batches a steady rate makes, smaller)."""
    numbers = iter(range(count))
    start = time.monotonic()

    async def client(poster: Poster) -> list[int]:
        codes = []
        for i in numbers:
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            codes.append(await poster.post("/api/v1/jobs", SPEC, f"{prefix}-{i}"))
        return codes

    return [code for each in run_clients(client, posters) for code in each]


def measure(
    server: ServerProcess, args: argparse.Namespace, database: int | None
) -> dict[str, Any]:
    assert server.proc is not None
    root = server.proc.pid
    holder = hold_a_lane(server, "bench")
    warm = submit(connected([server], args.clients, None), args.warmup, "warm")
    assert all(code == 201 for code in warm), set(warm)
    time.sleep(1.0)  # the loops' passes after the warm-up
    profiler = None
    if args.profile:
        command = [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--rate",
            str(args.samples),
            "--subprocesses",
            "--pid",
            str(root),
            "--output",
            args.profile,
            "--format",
            FORMATS.get(Path(args.profile).suffix, "speedscope"),
            *(["--gil"] if args.gil else []),
        ]
        profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)
    posters = connected([server], args.clients, None)
    before, mine, db = cpu_by_process(root), own_cpu_s(), tree_cpu_s(database)
    started = time.monotonic()
    codes = submit(posters, args.submits, "run", args.rate)
    elapsed = time.monotonic() - started
    after, mine, db = cpu_by_process(root), own_cpu_s() - mine, tree_cpu_s(database) - db
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(60)
    assert len(codes) == args.submits and all(c == 201 for c in codes), set(codes)
    used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    workers = {pid: cpu for pid, cpu in used.items() if pid != root}
    release(server, holder)
    per = 1000 / args.submits
    result: dict[str, Any] = {
        "submits": args.submits,
        "clients": args.clients,
        **({"rate": args.rate} if args.rate else {}),
        "submits_per_s": round(args.submits / elapsed, 1),
        "server_cpu_ms_per_submit": round(per * sum(used.values()), 3),
        "client_cpu_ms_per_submit": round(per * mine, 3),
    }
    if args.workers > 1:  # the first process runs the loops, the workers the API
        result["loops_process_cpu_ms_per_submit"] = round(per * used.get(root, 0.0), 3)
        result["api_workers_cpu_ms_per_submit"] = round(per * sum(workers.values()), 3)
    if database:
        result["database_cpu_ms_per_submit"] = round(per * db, 3)
    return result


def server_package() -> str:
    """Where the server's `aicc` comes from: `aicc serve` runs as a script, so PYTHONPATH (an
    older tree's copy, for "before" figures) comes ahead of the working tree's install."""
    where = "import aicc, pathlib; print(pathlib.Path(aicc.__file__).parent)"
    found = subprocess.run([sys.executable, "-c", where], cwd="/", capture_output=True, text=True)
    return found.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300, help="submits before the clock")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="the server's processes")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--profile", default=None, help="py-spy output (.txt, .svg, .json)")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="submits a second (default: as fast as answered)"
    )
    parser.add_argument("--samples", type=int, default=250, help="py-spy samples a second")
    parser.add_argument("--gil", action="store_true", help="py-spy: only GIL-holding samples")
    args = parser.parse_args()
    database, url = None, None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            from aicc.testing.postgres import start_postgres

            postgres = start_postgres(Path(tmp) / "pg")
            url = postgres.url
            database = int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.yaml").write_text(json.dumps(bench_config(args.workers)))
        server = ServerProcess(home, free_port(), url).start()
        try:
            result = measure(server, args, database)
        finally:
            server.stop()
    result.update(
        database="postgresql" if args.postgres else "sqlite",
        workers=args.workers,
        server_package=server_package(),
        cpus=len(os.sched_getaffinity(0)),
        python=platform.python_version(),
        load=os.getloadavg()[0],
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
