"""Fault harness: submit jobs from several clients while servers die with `kill -9`, then check
that every accepted job ran exactly once, in its true state, with its logs, billed once, and that
nothing is stuck and the audit chain verifies (aicc/testing/chaos.py says what is checked).

    .venv/bin/python benchmarks/chaos.py --kills 50 --jobs 300               # one server, SQLite
    .venv/bin/python benchmarks/chaos.py --postgres --servers 3 --kills 50   # three on PostgreSQL
    .venv/bin/python benchmarks/chaos.py --postgres --servers 3 --failover 10 --rate 5
    .venv/bin/python benchmarks/chaos.py --postgres --servers 3 --failover 10 --separate-hosts
    .venv/bin/python benchmarks/chaos.py --executor slurm --slurmd-kills 5 --kills 10 --jobs 60
    .venv/bin/python benchmarks/chaos.py --executor ray --ray-head-kills 3 --kills 5 --jobs 40

`--failover N` kills the leader N times under a steady submit rate and measures, for each kill,
the time until a survivor bound a replica again (scheduling resumed) and the share of API calls
the survivors answered meanwhile. `--separate-hosts` starts each server in its own UTS namespace
(needs root): to the lease its holder is another host, so survivors wait the lease out instead of
seeing at once that a local process died. `--executor slurm|ray` places the jobs on a private
Slurm (scripts/slurm-dev.sh, three nodes on this host; root) or Ray cluster, and `--slurmd-kills
N` / `--ray-head-kills N` lose a node that many times at random moments (its slurmd and job steps,
or the Ray head with every process on it, SIGKILLed) and bring it back (aicc/testing/engines.py).
Prints a table, then JSON; BENCHMARKS.md records it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aicc.testing import engines
from aicc.testing.chaos import run
from aicc.testing.chaos_report import Plan, Report


def parser() -> argparse.ArgumentParser:
    """The harness's options (the module's docstring says what they do)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--db", default=None, help="PostgreSQL URL; default SQLite")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL")
    parser.add_argument("--rate", type=float, default=None, help="submits/s over all clients")
    parser.add_argument("--failover", type=int, default=0, help="kill the leader this many times")
    parser.add_argument("--separate-hosts", action="store_true")
    parser.add_argument("--gap", type=float, nargs=2, default=(0.5, 3.0), metavar=("MIN", "MAX"))
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--supervisor-kills", type=int, default=0)
    parser.add_argument("--postgres-restarts", type=int, default=0, help="needs --postgres")
    parser.add_argument(
        "--disk-fills", type=int, default=0, help="fill the run dirs' tmpfs (root) 2-4 s"
    )
    parser.add_argument("--corrupt-blob", action="store_true", help="then read a damaged pack")
    parser.add_argument("--executor", choices=engines.EXECUTORS, default="local")
    parser.add_argument(
        "--slurmd-kills", type=int, default=0, help="lose a Slurm node (slurmd + job steps)"
    )
    parser.add_argument("--ray-head-kills", type=int, default=0, help="lose the Ray head")
    parser.add_argument("--lease-ttl", type=float, default=None, help="the servers' lease_ttl_s")
    parser.add_argument(
        "--no-idempotency-key",
        action="store_true",
        help="retry submits without the header: shows the duplicates the check would catch",
    )
    return parser


def main() -> None:
    options = parser()
    args = options.parse_args()
    if args.postgres_restarts and not args.postgres:
        options.error("--postgres-restarts needs --postgres (a PostgreSQL it may restart)")
    if args.slurmd_kills and args.executor != "slurm":
        options.error("--slurmd-kills needs --executor slurm")
    if args.ray_head_kills and args.executor != "ray":
        options.error("--ray-head-kills needs --executor ray")
    postgres = None
    with tempfile.TemporaryDirectory(prefix="aicc-chaos-") as tmp:
        if args.postgres:
            from aicc.testing.postgres import start_postgres

            postgres = start_postgres(Path(tmp) / "pg")
            args.db = postgres.url
        plan = Plan(
            clients=args.clients,
            jobs=args.jobs,
            kills=args.failover or args.kills,
            servers=args.servers,
            db=args.db,
            gap_s=tuple(args.gap),
            rate=args.rate,
            steady=bool(args.failover),
            lease_ttl_s=args.lease_ttl,
            supervisor_kills=args.supervisor_kills,
            postgres_restarts=args.postgres_restarts,
            postgres=postgres,
            disk_fills=args.disk_fills,
            corrupt_blob=args.corrupt_blob,
            executor=args.executor,
            node_losses=args.slurmd_kills + args.ray_head_kills,
            target="leader" if args.failover else "any",
            separate_hosts=args.separate_hosts,
            seed=args.seed,
            idempotency_keys=not args.no_idempotency_key,
        )
        report = run(Path(tmp), plan)
    show(report)


def show(report: Report) -> None:
    """The report as a table, then as JSON, with the machine it ran on."""
    result = report.summary()
    result["machine"] = {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "host": platform.node(),
    }
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    width = max(map(len, result))
    for name, value in result.items():
        if not isinstance(value, dict):
            print(f"{name:<{width}}  {value}")
    for name in ("failover", "violations"):
        print(f"{name:<{width}}  {result[name]}")
    for name, lines in report.details().items():
        for line in lines:
            print(f"  {name}: {line}")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
