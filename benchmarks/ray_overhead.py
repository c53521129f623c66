"""Submit-to-running latency through AICC on the Ray executor (median and p90 of N jobs).

Starts a private one-node Ray cluster (`aicc.testing.ray`: 2 CPUs, 2 declared GPUs) unless
`--address` names one, and a real `aicc serve` with `executor: ray` in a temporary home; then
submits jobs one at a time over HTTP. *submit to running* is from the job's `pending` event to
its `running` event (server clock; `running` is when the entry script started on the Ray node),
as in benchmarks/control_plane.py. One warm-up job runs first and is reported apart: Ray's job
agent is slow to take its first submission.

    .venv/bin/python benchmarks/ray_overhead.py --jobs 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import yaml

from aicc.testing import ray as dev_ray
from aicc.testing.servers import ServerProcess, free_port


def event_time(events: list[dict], state: str) -> datetime:
    return datetime.fromisoformat(next(e["at"] for e in events if e["to_state"] == state))


def one_job(client: httpx.Client, gpus: int) -> tuple[float, float]:
    """(server-side submit->running, client-observed) for one job, which then finishes."""
    spec: dict = {"command": "sleep 0.2", "resources": {"cpu": "100m", "memory": "64MiB"}}
    if gpus:
        spec["resources"]["accelerator"] = {"count": gpus}
    sent = time.monotonic()
    answer = client.post("/api/v1/jobs", json=spec)
    assert answer.status_code == 201, answer.text
    job = answer.json()
    while True:
        state = client.get(f"/api/v1/jobs/{job['id']}").json()
        if state["state"] in ("running", "succeeded", "failed", "cancelled"):
            break
        time.sleep(0.005)
    observed = time.monotonic() - sent
    assert state["state"] != "failed", state
    events = client.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
    server_side = (event_time(events, "running") - event_time(events, "pending")).total_seconds()
    while client.get(f"/api/v1/jobs/{job['id']}").json()["state"] not in (
        "succeeded",
        "failed",
    ):
        time.sleep(0.05)
    return server_side, observed


@contextlib.contextmanager
def ray_address(address: str | None) -> Iterator[str]:
    if address:
        yield address
        return
    with dev_ray.cluster(num_cpus=2, num_gpus=2) as started:
        yield started.address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs each job asks for")
    parser.add_argument("--address", default=None, help="an existing Ray dashboard URL")
    args = parser.parse_args()
    with ray_address(args.address) as address, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        config = {"executor": "ray", "ray": {"address": address, "simulated_gpus": True}}
        (home / "config.yaml").write_text(yaml.safe_dump(config))
        server = ServerProcess(home, free_port()).start()
        try:
            with server.client() as client:
                warm_up = one_job(client, args.gpus)
                runs = [one_job(client, args.gpus) for _ in range(args.jobs)]
        finally:
            server.stop()
    server_side = [r[0] for r in runs]
    result = {
        "jobs": args.jobs,
        "gpus_per_job": args.gpus,
        "median_submit_to_running_s": statistics.median(server_side),
        "p90_submit_to_running_s": statistics.quantiles(server_side, n=10)[-1],
        "min_submit_to_running_s": min(server_side),
        "max_submit_to_running_s": max(server_side),
        "median_client_observed_s": statistics.median(r[1] for r in runs),
        "warm_up_submit_to_running_s": warm_up[0],
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
    }
    with contextlib.suppress(ImportError):
        import ray

        result["ray"] = ray.__version__
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
