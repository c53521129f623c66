"""What sampling nodes' BMCs costs the server: N distinct nodes (default 1,000), each a target
of its own, read through the real client (sushy) on the loop's bounded pool, against
sushy-static emulators (aicc/testing/redfish.py; one emulator answers many node names, as a
thousand emulator processes would not fit one machine). Two rounds: the first finds each
BMC's paths (service root, collections, chassis), the second is the steady state, one reading
per node (system, chassis, Power, Thermal). Prints the server process's CPU-seconds per round,
which at a 60 s interval is its CPU-seconds per minute of samples; the emulators' CPU is theirs
and not counted.

    python benchmarks/bmc_sampling.py [--nodes 1000] [--emulators 4] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import time

from aicc.core.redfish import Target
from aicc.executors.bmc import Pool
from aicc.testing import redfish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--emulators", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    emulators = [redfish.start_emulator() for _ in range(args.emulators)]
    pool = Pool(workers=args.concurrency, timeout_s=10.0)
    try:
        targets = [
            Target(f"node-{n:04d}", emulators[n % len(emulators)].address, "root", "pw")
            for n in range(args.nodes)
        ]
        rounds = []
        for name in ("first (paths found)", "steady"):
            cpu, wall = time.process_time(), time.monotonic()
            pool.submit(targets)
            outcomes = []
            while len(outcomes) < len(targets):
                outcomes += pool.done()
                time.sleep(0.01)
            rounds.append(
                {
                    "round": name,
                    "cpu_s": round(time.process_time() - cpu, 2),
                    "wall_s": round(time.monotonic() - wall, 2),
                    "ok": sum(o.reading is not None for o in outcomes),
                    "cpu_ms_per_node": round((time.process_time() - cpu) * 1000 / len(targets), 2),
                }
            )
        print(json.dumps({"nodes": args.nodes, "emulators": args.emulators, "rounds": rounds}))
    finally:
        pool.close()
        for emulator in emulators:
            emulator.stop()


if __name__ == "__main__":
    main()
