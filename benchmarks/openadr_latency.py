"""OpenADR: the time from the utility's VTN announcing an event to its cap in force in AICC
(issue 62 item 4).

openleadr's own VTN on loopback, and a real server in this process (its loops and the VEN
running) polling it every `--poll` seconds, as a VTN asks its VENs to. Each event is a
`LOAD_DISPATCH` setpoint starting now, lower than the one before (the lowest cap in force
wins); the clock starts when `add_event` returns in the VTN and stops when the server's
power-cap route (`GET /api/v1/center/power-cap`, polled every 20 ms) shows the new cap: from
then the scheduler's next pass holds starts under it. Each event comes at a random point of the
poll's cycle (a pause of up to one interval before it), so the figure is bound by the poll: on
average half an interval, at worst one, plus the VEN's handling. Prints JSON: p50, p95, max and
mean seconds.

    .venv/bin/python benchmarks/openadr_latency.py --events 20 --poll 1
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from aicc.testing.openadr import Vtn
from aicc.testing.servers import over_http


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--poll", type=float, default=1.0, help="the VTN's poll interval (s)")
    args = parser.parse_args()
    vtn = Vtn(poll_s=args.poll).start()
    took: list[float] = []
    pace = random.Random(62)

    def opted(ven_id: str, event_id: str, opt_type: str) -> None:
        """The VEN's answer; the VTN wants a callback for it."""

    try:
        settings = {"vtn_url": vtn.url, "ven_name": "aicc-bench"}
        with (
            tempfile.TemporaryDirectory() as tmp,
            over_http(Path(tmp) / "home", None, openadr=settings) as (base, token, _state),
        ):
            api = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
            )

            def cap() -> float | None:
                found: float | None = api.get("/api/v1/center/power-cap").json()["cap_kw"]
                return found

            def announce(i: int, kw: float) -> None:
                at = datetime.now(UTC)
                intervals = [{"dtstart": at, "duration": timedelta(hours=1), "signal_payload": kw}]
                vtn.server.add_event(
                    ven_id="ven-1", signal_name="LOAD_DISPATCH", signal_type="setpoint",
                    intervals=intervals, event_id=f"bench-{i}", callback=opted,
                )  # fmt: skip

            for i in range(args.events + 1):  # the first: registration, not counted
                kw = 1000.0 - i
                time.sleep(pace.uniform(0, args.poll))  # at any point of the poll's cycle
                vtn.call(functools.partial(announce, i, kw))
                began = time.monotonic()
                while cap() != kw:
                    if time.monotonic() - began > 10 * args.poll + 30:
                        raise SystemExit(f"event {i}: its cap never came into force")
                    time.sleep(0.02)
                if i:
                    took.append(time.monotonic() - began)
    finally:
        vtn.stop()
    ordered = sorted(took)
    print(
        json.dumps(
            {
                "events": len(took),
                "poll_s": args.poll,
                "p50_s": round(statistics.median(ordered), 3),
                "p95_s": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 3),
                "max_s": round(ordered[-1], 3),
                "mean_s": round(statistics.fmean(ordered), 3),
            }
        )
    )


if __name__ == "__main__":
    main()
