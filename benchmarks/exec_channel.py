"""`aicc job exec`'s channel (issue 58.3): the round trip of a command run inside a running job's
sandbox, and how fast its output comes back.

.venv/bin/python benchmarks/exec_channel.py --runs 20 --mib 64

A real server in this process behind a socket (`testing.servers.over_http`, SQLite under a
temporary home, the bubblewrap sandbox), one running job; each run opens the websocket
(`client.jobs.exec`), enters the replica's namespaces (nsenter), runs `true` and reads its exit;
then one command writes MIB MiB that the client reads to the end. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from aicc.executors.local import exec as entering
from aicc.sdk.client import Client
from aicc.testing.polling import wait
from aicc.testing.servers import over_http


def _entered(run_dir: Path) -> bool:
    try:
        entering.sandbox_init(run_dir)
    except ValueError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp()) / "home"
    with over_http(home) as (url, token, _state):
        client = Client(server=url, token=token)
        job = client.jobs.submit({"command": "sleep 600"})
        wait("running", lambda: client.jobs.get(job.id).state == "running")
        run_dir = next(home.glob(f"runs/{job.id}/0/0"))
        wait("sandbox", lambda: _entered(run_dir))
        took = []
        for _ in range(args.runs):
            began = time.perf_counter()
            with client.jobs.exec(job.id, ["true"]) as channel:
                for _ in channel:
                    pass
            assert channel.exit_code == 0
            took.append(time.perf_counter() - began)
        size, got = args.mib << 20, 0
        began = time.perf_counter()
        with client.jobs.exec(job.id, ["head", "-c", str(size), "/dev/zero"]) as channel:
            for _, data in channel:
                got += len(data)
        seconds = time.perf_counter() - began
        assert got == size
        client.jobs.cancel(job.id)
    took.sort()
    print(
        json.dumps(
            {
                "runs": args.runs,
                "round_trip_ms_median": round(statistics.median(took) * 1000, 1),
                "round_trip_ms_p90": round(took[int(0.9 * (len(took) - 1))] * 1000, 1),
                "output_mb_s": round(got / seconds / 1e6, 1),
                "output_bytes": got,
            }
        )
    )


if __name__ == "__main__":
    main()
