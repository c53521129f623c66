"""The scheduler's snapshot read from the store: CPU and SQL statements per read.

Builds a server in-process (SQLite, local executor) with `--nodes` simulated nodes of 8 GPUs
and `--jobs` one-GPU jobs bound to them, then reads the snapshot (`services/jobs/snapshots.read`),
its node views alone (`node_views`) and the fair-share usage (`usage.decayed`) `--reads` times
each in one reader session, counting the statements of one read. Prints JSON.

    .venv/bin/python benchmarks/snapshot_read.py
    .venv/bin/python benchmarks/snapshot_read.py --nodes 1000 --jobs 100
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.scheduler.plugins.fairshare import WEEK_S
from aicc.server import build
from aicc.services.jobs import jobs, snapshots, usage
from aicc.services.nodes import nodes as nodes_service
from aicc.services.serving import lifecycle
from aicc.testing.servers import admin, kill_leftover_replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=300, help="simulated nodes of 8 GPUs")
    parser.add_argument("--jobs", type=int, default=20, help="one-GPU jobs bound before")
    parser.add_argument("--reads", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        _app, state = build(Settings(home=home, sandbox="off"))
        who = admin(state, home)
        gpus = [{"model": "A100-80GB", "count": 8, "simulated": True}]
        listed = [
            {"name": f"op-{i}", "cpu": 64, "memory": "512GiB", "devices": gpus}
            for i in range(args.nodes)
        ]
        with state.db.session() as session:
            nodes_service.import_inventory(
                session, who, nodes_service.Inventory.model_validate({"nodes": listed}), used={}
            )
        limits = jobs.SubmitLimits(max_pending_per_user=10**6)
        spec = JobSpec.model_validate(
            {"command": "sleep 3600", "resources": {"accelerator": {"count": 1}}}
        )
        for i in range(args.jobs):
            with state.db.session() as session:
                jobs.submit(session, who, spec, idempotency_key=f"k-{i}", limits=limits)
        for _ in range(3):  # bound and started
            state.controller.tick()
        reads: dict[str, Callable[[Session], Any]] = {
            "read": lambda s: snapshots.read(s, datetime.now(UTC), protect=lifecycle.protected),
            "node_views": snapshots.node_views,
            "decayed": lambda s: usage.decayed(s, datetime.now(UTC), half_life_s=WEEK_S),
        }
        out: dict[str, Any] = {"nodes": args.nodes, "jobs": args.jobs, "reads": args.reads}
        for name, read in reads.items():
            out[name] = _measured(state.db, read, args.reads)
        print(json.dumps(out, indent=2))
        state.db.dispose()
        kill_leftover_replicas(home)  # the jobs would sleep on for an hour


def _measured(db: Any, read: Callable[[Session], Any], times: int) -> dict[str, float]:
    """Statements of one read (after a first, warming one), and CPU ms per read."""
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    with db.reader() as session:
        read(session)
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            read(session)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        cpu = time.process_time()
        for _ in range(times):
            read(session)
        cpu = time.process_time() - cpu
    return {"statements": statements[0], "cpu_ms": round(1000 * cpu / times, 1)}


if __name__ == "__main__":
    main()
