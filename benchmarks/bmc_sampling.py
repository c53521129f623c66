"""What sampling nodes' BMCs costs the server: N distinct nodes (default 1,000), each a target
of its own, read through the real client (sushy) on the loop's bounded pool, against
sushy-static emulators (aicc/testing/redfish.py; one emulator answers many node names, as a
thousand emulator processes would not fit one machine), and what the `bmc` step then keeps
(services/nodes/bmc.py `observe` and the power history, services/telemetry/samples.py
`record_power`) in a fresh server's SQLite database. Two rounds: the first finds each BMC's
paths (service root, collections, chassis), the second is the steady state, one reading per
node (system, chassis, Power, Thermal). Prints the server process's CPU-seconds per round,
reading and storing, which at a 60 s interval is its CPU-seconds per minute of samples; the
emulators' CPU is theirs and not counted. Last, one node's power curve over a day of 5 s
samples (`power_curve`, what `GET /api/v1/nodes/NAME/power?hours=24` answers) and the step's
hourly prune of every node's history (`prune_power`), timed.

    python benchmarks/bmc_sampling.py [--nodes 1000] [--emulators 4] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from aicc.config import Settings
from aicc.core.redfish import Outcome, Target
from aicc.executors.bmc import Pool
from aicc.server import build
from aicc.services.common import utcnow
from aicc.services.nodes import bmc
from aicc.services.nodes import nodes as nodes_service
from aicc.services.telemetry import samples
from aicc.store.tables.nodes import NodeRow
from aicc.testing import redfish
from aicc.testing.servers import admin


def _store(state: object, outcomes: list[Outcome]) -> None:
    """What the `bmc` step's `keep` does with a round's outcomes (loops/bmc.py)."""
    now = utcnow()
    with state.db.session() as session:  # type: ignore[attr-defined]
        bmc.observe(session, outcomes, now)
        samples.record_power(
            session,
            now,
            [
                (o.node_id, o.reading.watts, "bmc", o.reading.limit_w)
                for o in outcomes
                if o.reading is not None and o.reading.watts is not None
            ],
        )


def _curve(state: object, node: str, node_id: str) -> dict[str, float]:
    """A day of 5 s samples of one node, then its 24 h curve, timed."""
    now = utcnow()
    day = 17_280
    with state.db.session() as session:  # type: ignore[attr-defined]
        for n in range(day):
            samples.record_power(
                session,
                now - timedelta(seconds=5 * (day - n)),
                [(node_id, 300.0 + n % 50, "bmc", 600.0)],
            )
    with state.db.reader() as session:  # type: ignore[attr-defined]
        cpu, wall = time.process_time(), time.monotonic()
        found = samples.power_curve(session, node, hours=24, now=now)
        took = {
            "cpu_ms": (time.process_time() - cpu) * 1000,
            "wall_ms": (time.monotonic() - wall) * 1000,
        }
    return {
        "samples": found.samples,
        "buckets": len(found.buckets),
        **{k: round(v, 1) for k, v in took.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--emulators", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="aicc-bmc-bench-"))
    _app, state = build(Settings(home=home, sandbox="off"))
    who = admin(state, home)
    doc = nodes_service.Inventory.model_validate(
        {
            "nodes": [
                {"name": f"node-{n:04d}", "cpu": 64, "memory": "512GiB"} for n in range(args.nodes)
            ]
        }
    )
    emulators = [redfish.start_emulator() for _ in range(args.emulators)]
    pool = Pool(workers=args.concurrency, timeout_s=10.0)
    try:
        with state.db.session() as session:
            nodes_service.import_inventory(session, who, doc, used={})
            ids = {name: id_ for name, id_ in session.execute(select(NodeRow.name, NodeRow.id))}
            for n in range(args.nodes):
                bmc.configure(
                    session,
                    who,
                    sealer=state.sealer,
                    node=f"node-{n:04d}",
                    address=emulators[n % len(emulators)].address,
                    username="root",
                    password="pw",
                )
        targets = [
            Target(ids[f"node-{n:04d}"], emulators[n % len(emulators)].address, "root", "pw")
            for n in range(args.nodes)
        ]
        rounds = []
        for name in ("first (paths found)", "steady"):
            cpu, wall = time.process_time(), time.monotonic()
            pool.submit(targets)
            outcomes: list[Outcome] = []
            while len(outcomes) < len(targets):
                outcomes += pool.done()
                time.sleep(0.01)
            read_cpu = time.process_time() - cpu
            _store(state, outcomes)
            total = time.process_time() - cpu
            rounds.append(
                {
                    "round": name,
                    "cpu_s": round(total, 2),
                    "read_cpu_s": round(read_cpu, 2),
                    "store_cpu_s": round(total - read_cpu, 2),
                    "wall_s": round(time.monotonic() - wall, 2),
                    "ok": sum(o.reading is not None for o in outcomes),
                    "cpu_ms_per_node": round(total * 1000 / len(targets), 2),
                }
            )
        curve = _curve(state, "node-0000", ids["node-0000"])
        with state.db.session() as session:  # the step's hourly prune: one delete per node
            cpu = time.process_time()
            samples.prune_power(session, utcnow(), timedelta(days=90))
            curve["prune_cpu_ms"] = round((time.process_time() - cpu) * 1000, 1)
        print(
            json.dumps(
                {
                    "nodes": args.nodes,
                    "emulators": args.emulators,
                    "rounds": rounds,
                    "curve_24h": curve,
                }
            )
        )
    finally:
        pool.close()
        for emulator in emulators:
            emulator.stop()
        state.db.dispose()


if __name__ == "__main__":
    main()
