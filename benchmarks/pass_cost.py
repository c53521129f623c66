"""The control loop's pass with a long queue behind a full lane: CPU per pass.

Builds a server in-process (SQLite, local executor) with one queue of `max_running: 1`, one
job running in it and N waiting behind it, then times the controller's passes (scheduling,
reconcile and the rest), as the live server runs them, and the scheduling step alone. Prints
JSON. The jobs are submitted through the submit service, `--batch` of them a transaction (one
each by default; a large queue is set up faster in batches, as group commit writes them), and
their audit entries sealed before the timed passes.

    .venv/bin/python benchmarks/pass_cost.py --waiting 2000 --passes 20
    .venv/bin/python benchmarks/pass_cost.py --waiting 100000 --batch 1000 --passes 20
    .venv/bin/python benchmarks/pass_cost.py --waiting 10000 --batch 1000 --new 1  # a submit a pass
    .venv/bin/python benchmarks/pass_cost.py --postgres --waiting 10000 --batch 1000 --new 1
    .venv/bin/python benchmarks/pass_cost.py --nodes 300 --leases 100 --windows 100  # issue 40
    .venv/bin/python benchmarks/pass_cost.py --nodes 300 --leases 100 --windows 100 --full --new 1

`--nodes` adds simulated nodes of 8 GPUs; `--leases` leases that many of them, one a lease, to
the admin's organization, and `--windows` announces a maintenance window a day ahead on as many
others: what the pass then reads and marks on every node (services/jobs/snapshots.restrict).
`--full` makes every timed pass a full one (the loop's quiet memory forgotten before it), so
the figures are those of reading, ordering and deciding the whole queue.

`--postgres` runs on a throwaway PostgreSQL; its server's CPU is not in the figures (the loop's
process alone, as on SQLite, where the database is in the process).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from aicc.config import Settings
from aicc.core.jobspec import JobSpec
from aicc.loops.audit import seal
from aicc.server import build
from aicc.services.jobs import jobs
from aicc.services.leases import leases as leases_service
from aicc.services.nodes import maintenance
from aicc.services.nodes import nodes as nodes_service
from aicc.services.tenancy import audit, tenancy
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.tenancy import OrgRow
from aicc.testing.postgres import start_postgres
from aicc.testing.servers import admin, kill_leftover_replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1, help="submits a transaction (setup)")
    parser.add_argument(
        "--new", type=int, default=0, help="jobs submitted behind the lane before each pass"
    )
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--nodes", type=int, default=0, help="simulated nodes of 8 GPUs added")
    parser.add_argument("--leases", type=int, default=0, help="of them leased, one a lease")
    parser.add_argument("--windows", type=int, default=0, help="of them in a window a day ahead")
    parser.add_argument(
        "--full", action="store_true", help="every pass a full one: the quiet memory forgotten"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        postgres = start_postgres(Path(tmp) / "pg") if args.postgres else None
        url = postgres.url if postgres is not None else None
        _app, state = build(Settings(home=home, db=url, sandbox="off"))
        who = admin(state, home)
        with state.db.session() as session:
            project = tenancy.resolve_project(session, who, None)
            tenancy.create_queue(session, who, project=project, name="lane", max_running=1)
        limits = jobs.SubmitLimits(max_pending_per_user=10**6)
        holder = JobSpec.model_validate({"command": "sleep 86400", "queue": "lane"})
        with state.db.session() as session:
            jobs.submit(session, who, holder, idempotency_key="k-0", limits=limits)
        controller = state.controller
        controller.tick()  # the lane's holder bound before the others come
        spec = JobSpec.model_validate({"command": "true", "queue": "lane"})
        setup = time.perf_counter()
        for start in range(1, args.waiting + 1, args.batch):
            with state.db.session() as session:
                for i in range(start, min(start + args.batch, args.waiting + 1)):
                    jobs.submit(session, who, spec, idempotency_key=f"k-{i}", limits=limits)
        setup = time.perf_counter() - setup
        if args.nodes:
            _operations(state, who, args.nodes, args.leases, args.windows)
        for _ in range(3):  # the first job started; the others' reasons written
            controller.tick()
        _sealed(state, controller)
        assert _running(state) == 1, "the lane's holder ended: the passes would start jobs"
        schedule = next(s for s in controller.steps if s.name == "schedule")
        step = _timed(schedule)
        before = _paths(schedule, {})
        wall = cpu = 0.0
        for n in range(args.passes):
            with state.db.session() as session:  # not timed
                for i in range(args.new):
                    key = f"new-{n}-{i}"
                    jobs.submit(session, who, spec, idempotency_key=key, limits=limits)
            if args.full:
                schedule.quiet.forget()  # read, order and decide the whole queue again
            started, used = time.perf_counter(), time.process_time()
            controller.tick()
            wall += time.perf_counter() - started
            cpu += time.process_time() - used
        assert _running(state) == 1, "the lane's holder ended: the passes started jobs"
        print(
            json.dumps(
                {
                    "database": "postgresql" if args.postgres else "sqlite",
                    "waiting": args.waiting,
                    "passes": args.passes,
                    "new_per_pass": args.new,
                    "nodes_added": args.nodes,
                    "leases": args.leases,
                    "windows": args.windows,
                    "full": args.full,
                    "setup_s": round(setup, 1),
                    "ms_per_pass": 1000 * wall / args.passes,
                    "cpu_ms_per_pass": 1000 * cpu / args.passes,
                    "schedule_cpu_ms_per_pass": 1000 * step[0] / args.passes,
                    **_paths(schedule, before),
                },
                indent=2,
            )
        )
        state.db.dispose()
        kill_leftover_replicas(home)  # the lane's holder: it would sleep on for a day
        if postgres is not None:
            postgres.stop()


def _operations(state: Any, who: Any, nodes: int, leases: int, windows: int) -> None:
    """`nodes` simulated nodes; `leases` of them leased to the admin's organization, one node a
    lease, for a month from now; `windows` others in a window from a day ahead, one a window."""
    if leases + windows > nodes:
        raise SystemExit("--leases and --windows take nodes of their own: raise --nodes")
    gpus = [{"model": "A100-80GB", "count": 8, "simulated": True}]
    doc = nodes_service.Inventory.model_validate(
        {
            "nodes": [
                {"name": f"op-{i}", "cpu": 64, "memory": "512GiB", "devices": gpus}
                for i in range(nodes)
            ]
        }
    )
    now = datetime.now(UTC)
    with state.db.session() as session:
        nodes_service.import_inventory(session, who, doc, used={})
        org = session.get(OrgRow, who.org_id)
        assert org is not None
        for i in range(leases):
            ask = leases_service.Ask(
                org=org.name, starts_at=now, ends_at=now + timedelta(days=30), nodes=[f"op-{i}"]
            )
            leases_service.create(session, who, ask, now=now)
        for i in range(leases, leases + windows):
            maintenance.create(
                session,
                who,
                nodes=[f"op-{i}"],
                starts_at=now + timedelta(days=1),
                ends_at=now + timedelta(days=1, hours=4),
                reason="benchmark",
                now=now,
            )


def _paths(step: Any, before: dict[str, int]) -> dict[str, int]:
    """How many of the timed passes were skipped (quiet) or wrote only the new jobs' waits
    (nearly quiet, loops/quiet.py); the rest read the queue in full. Empty where the
    scheduling step keeps no such count (an older tree)."""
    quiet = getattr(step, "quiet", None)
    counts = {
        "quiet": getattr(quiet, "skipped", None),
        "nearly_quiet": getattr(quiet, "nearly", None),
    }
    return {
        f"passes_{path}": n - before.get(f"passes_{path}", 0)
        for path, n in counts.items()
        if n is not None
    }


def _running(state: Any) -> int:
    """How many jobs are bound or running (the lane's holder alone, for a fair figure)."""
    with state.db.reader() as session:
        query = select(func.count()).where(JobRow.state.in_(("scheduled", "running")))
        return int(session.scalar(query) or 0)


def _sealed(state: Any, controller: Any) -> None:
    """Seal the setup's audit entries (the `audit` step seals a batch a pass): a backlog of
    100,000 submits' entries would otherwise be what the timed passes spend most on."""
    while True:
        with state.db.reader() as session:
            if not audit.unsealed(session):
                return
        seal(state.db, controller.lease, controller.sealer)


def _timed(step: Any) -> list[float]:
    """Count the CPU seconds of `step`'s runs from now on, in the list returned."""
    spent = [0.0]
    run = step.run

    def timed(pass_: Any) -> None:
        cpu = time.process_time()
        try:
            run(pass_)
        finally:
            spent[0] += time.process_time() - cpu

    step.run = timed
    return spent


if __name__ == "__main__":
    main()
