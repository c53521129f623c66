"""The per-token rate limit at its configured rate: one token's clients submitting flat out.

The default per-token bucket is a burst of 100 refilled at 50/s (issue 35; `limits.rate_limit`
in aicc/config.py): one token's submits beyond it are answered 429 with `Retry-After`, however
many clients send them. This starts a real `aicc serve` (SQLite, its config only
`limits.max_pending_per_user`, so the limiter keeps its defaults) as `control_plane.py` does,
holds a lane with a long job so the submits wait in a queue, lets the token's bucket refill
after that setup, then has `--clients` keep-alive clients (`control_plane.Poster`) submit as
fast as they can for `--seconds` on the admin's one token. Expected: the burst plus the rate
times the seconds accepted (201), the rest 429 with `Retry-After` (`retry_after`: the values
the clients were last answered). Prints JSON.

    .venv/bin/python -m benchmarks.rate_limit
    .venv/bin/python -m benchmarks.rate_limit --clients 16 --seconds 30

Run it with `-m`, from the repository's root: it shares `control_plane.py`'s clients.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aicc.config import RateLimit
from aicc.testing.servers import ServerProcess, free_port
from benchmarks.control_plane import Poster, connected, hold_a_lane, release, run_clients

QUEUE = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    limits = RateLimit()  # the defaults the server runs with
    refill_s = limits.per_token_burst / limits.per_token_per_s
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        config = {"limits": {"max_pending_per_user": 10**6}}
        (home / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
        server = ServerProcess(home, free_port()).start()
        try:
            holder = hold_a_lane(server, QUEUE)
            time.sleep(refill_s + 0.5)  # the token's bucket full again after the setup's calls
            posters = connected([server], args.clients, None)
            spec = {"command": "true", "queue": QUEUE}

            async def client(poster: Poster) -> list[int]:
                codes, n = [], 0
                while time.monotonic() < end:
                    n += 1
                    codes.append(await poster.post("/api/v1/jobs", spec, f"{id(poster)}-{n}"))
                return codes

            started = time.monotonic()
            end = started + args.seconds
            codes = [code for each in run_clients(client, posters) for code in each]
            took = time.monotonic() - started
            time.sleep(refill_s)  # room for the release's calls
            release(server, holder)
        finally:
            server.close()
    counted = collections.Counter(codes)
    out: dict[str, Any] = {
        "clients": args.clients,
        "per_token_burst": limits.per_token_burst,
        "per_token_per_s": limits.per_token_per_s,
        "seconds": round(took, 2),
        "requests": len(codes),
        "answered_per_s": round(len(codes) / took, 1),
        "codes": {str(code): n for code, n in sorted(counted.items())},
        "accepted_per_s": round(counted[201] / took, 1),
        "expected_accepted": round(limits.per_token_burst + limits.per_token_per_s * took),
        "retry_after": sorted({p.retry_after for p in posters if p.retry_after}),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
