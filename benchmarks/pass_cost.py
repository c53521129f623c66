"""The control loop's pass with a long queue behind a full lane: CPU per pass.

Builds a server in-process (SQLite, local executor) with one queue of `max_running: 1`, one
job running in it and N waiting behind it, then times the controller's passes (scheduling,
reconcile and the rest), as the live server runs them. Prints JSON.

    .venv/bin/python benchmarks/pass_cost.py --waiting 2000 --passes 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.server import build
from aicc.services.jobs import jobs
from aicc.services.tenancy import tenancy
from aicc.services.tenancy import tokens as t
from aicc.testing.servers import kill_leftover_replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        _app, state = build(Settings(home=home, sandbox="off"))
        secret = (home / "admin.token").read_text().strip()
        with state.db.reader() as session:
            caller, _ = t.authenticate(session, t.digest(secret))
        who = caller.who
        with state.db.session() as session:
            project = tenancy.resolve_project(session, who, None)
            tenancy.create_queue(session, who, project=project, name="lane", max_running=1)
        limits = jobs.SubmitLimits(max_pending_per_user=10**6)
        for i in range(args.waiting + 1):
            command = "sleep 120" if i == 0 else "true"
            spec = JobSpec.model_validate({"command": command, "queue": "lane"})
            with state.db.session() as session:
                jobs.submit(session, who, spec, idempotency_key=f"k-{i}", limits=limits)
        controller = state.controller
        for _ in range(3):  # the first job bound and started; the others' reasons written
            controller.tick()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(args.passes):
            controller.tick()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            json.dumps(
                {
                    "waiting": args.waiting,
                    "passes": args.passes,
                    "ms_per_pass": 1000 * wall / args.passes,
                    "cpu_ms_per_pass": 1000 * cpu / args.passes,
                },
                indent=2,
            )
        )
        state.db.dispose()
        kill_leftover_replicas(home)  # the lane's holder: it would sleep on for two minutes


if __name__ == "__main__":
    main()
