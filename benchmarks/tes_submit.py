"""GA4GH TES against the native API: create → RUNNING of a TES task beside submit → running of
a native job, in the same run (issue 60; the goal is TES at most 1.2× native).

Starts a real `aicc serve` (SQLite, a temporary home) as `control_plane.py` does and, one at a
time on the idle server, alternates a native job (`POST /api/v1/jobs`, `sleep 0.2`) and a TES
task of the same program (`POST /ga4gh/tes/v1/tasks`, one executor, an inline input), both with
one CPU. For each it records the server's own time from submit to running (the job's events:
a TES task is a job) and what a client polling every 5 ms sees (the job's `running`, the task's
`RUNNING`). Results go to stdout as JSON, with the commit, the machine and the date.

    .venv/bin/python -m benchmarks.tes_submit --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from aicc.testing.servers import ServerProcess, free_port
from benchmarks.control_plane import event_time

NATIVE: dict[str, Any] = {"command": "sleep 0.2", "resources": {"cpu": 1, "memory": "512MiB"}}
TASK: dict[str, Any] = {
    "name": "bench",
    "inputs": [{"path": "/tmp/in.txt", "content": "hello\n"}],
    "executors": [{"image": "alpine", "command": ["sleep", "0.2"]}],
    "resources": {"cpu_cores": 1, "ram_gb": 0.5},
}
ENDED = ("succeeded", "failed", "cancelled")


def one(
    client: httpx.Client, submit: Callable[[], str], running: Callable[[str], bool]
) -> tuple[float, float]:
    """(server-side submit → running, client-observed) of one job, then waits for its end."""
    sent = time.monotonic()
    job_id = submit()
    while not running(job_id):
        time.sleep(0.005)
    seen = time.monotonic() - sent
    events = client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
    server = (event_time(events, "running") - event_time(events, "pending")).total_seconds()
    while client.get(f"/api/v1/jobs/{job_id}").json()["state"] not in ENDED:
        time.sleep(0.05)
    return server, seen


def measure(client: httpx.Client, rounds: int) -> dict[str, Any]:
    def native() -> str:
        return str(client.post("/api/v1/jobs", json=NATIVE).json()["id"])

    def native_running(job_id: str) -> bool:
        return client.get(f"/api/v1/jobs/{job_id}").json()["state"] in ("running", *ENDED)

    def tes() -> str:
        answer = client.post("/ga4gh/tes/v1/tasks", json=TASK)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"])

    def tes_running(task_id: str) -> bool:
        state = client.get(f"/ga4gh/tes/v1/tasks/{task_id}").json()["state"]
        return state in ("RUNNING", "COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR")

    one(client, native, native_running)  # warm up both paths once
    one(client, tes, tes_running)
    runs: dict[str, list[tuple[float, float]]] = {"native": [], "tes": []}
    for _ in range(rounds):
        runs["native"].append(one(client, native, native_running))
        runs["tes"].append(one(client, tes, tes_running))
    out: dict[str, Any] = {}
    for name, pairs in runs.items():
        out[name] = {
            "median_submit_to_running_s": statistics.median(p[0] for p in pairs),
            "median_client_observed_s": statistics.median(p[1] for p in pairs),
        }
    for key in ("median_submit_to_running_s", "median_client_observed_s"):
        out[f"ratio_{key.removeprefix('median_')}"] = round(out["tes"][key] / out["native"][key], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        server = ServerProcess(home, free_port(), None).start()
        try:
            with server.client() as client:
                result = measure(client, args.rounds)
        finally:
            server.stop()
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result |= {
        "rounds": args.rounds,
        "commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "database": "sqlite",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
