"""What a test server costs: most API, portal and service tests build one (aicc/testing/servers.py's
`in_process`), so what each pays is paid that often.

Builds `--servers` servers one after another in this process (SQLite, the tests' settings) and
for each measures: build and start; the first request that meets every route (a path no route
answers, so the router tries them all: what a route walk pays at its first request); the CPU of
the whole cycle (start, that request, five requests, a second idle, stop). The first server pays
the imports and the migrated template: the figures are the medians of the others. Prints JSON.

    .venv/bin/python -m benchmarks.server_cycle
    .venv/bin/python -m benchmarks.server_cycle --servers 24
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from aicc.testing.servers import in_process

READS = ("/api/v1/jobs", "/api/v1/nodes", "/api/v1/projects", "/api/v1/bills", "/api/v1/needs")


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=12)
    args = parser.parse_args()
    starts, walks, cpus = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.servers + 1):
            cpu, began = _cpu(), time.perf_counter()
            with in_process(Path(tmp) / str(i), None, limits={"grace_s": 2.0}) as (api, _):
                started = time.perf_counter()
                assert api.get("/no-such-path").status_code == 404
                walked = time.perf_counter()
                for path in READS:
                    assert api.get(path).status_code == 200, path
                time.sleep(1.0)
            if i:  # the first pays the imports and the migrated template
                starts.append(started - began)
                walks.append(walked - started)
                cpus.append(_cpu() - cpu)
    print(
        json.dumps(
            {
                "servers": args.servers,
                "start_s": round(statistics.median(starts), 3),
                "first_request_every_route_s": round(statistics.median(walks), 3),
                "cycle_cpu_s": round(statistics.median(cpus), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
