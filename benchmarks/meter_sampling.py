"""What reading the center's facility meters costs the server: N meters (default 64), each a
unit id of its own on one pymodbus server (aicc/testing/modbus.py; in this process, so its CPU
is counted too and the figure is an upper bound), read through the real client (pymodbus) on
the loop's bounded pool (executors/meters.py `Pool`, 16 threads). The first round connects, the
others reuse each meter's connection. Then one hour's closing (core/meters.py `hour_pue`) over
those meters sampled every 15 s. Prints CPU-seconds and wall seconds per round.

    python benchmarks/meter_sampling.py [--meters 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime, timedelta

from aicc.core.meters import Point, Register, Target, hour_pue
from aicc.executors.meters import Pool
from aicc.testing import modbus


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--meters", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    units = tuple(range(1, args.meters + 1))
    register = Register(3059, "float32")
    plant = modbus.Plant(units=units).start()
    pool = Pool(workers=min(args.meters, 16))
    try:
        for unit in units:
            plant.set(unit, register, 100.0 + unit)
        targets = [
            Target(f"m{u}", "it" if u > 1 else "utility", "127.0.0.1", plant.port, u, register)
            for u in units
        ]
        rounds = []
        for n in range(args.rounds):
            cpu, wall = time.process_time(), time.monotonic()
            pool.submit(targets)
            outcomes = []
            while len(outcomes) < len(targets):
                outcomes += pool.done()
                time.sleep(0.001)
            rounds.append(
                {
                    "round": "first (connects)" if n == 0 else "steady",
                    "cpu_s": round(time.process_time() - cpu, 4),
                    "wall_s": round(time.monotonic() - wall, 4),
                    "ok": sum(not o.error for o in outcomes),
                }
            )
        hour = datetime(2026, 11, 3, 10, tzinfo=UTC)
        it_kw = 100.0 * (len(targets) - 1)  # the utility meter reads 1.3 x the IT meters' sum
        samples = {
            t.name: [
                Point(hour + timedelta(seconds=s), 1.3 * it_kw if t.role == "utility" else 100.0)
                for s in range(-300, 3900, 15)
            ]
            for t in targets
        }
        listed = [(t.name, t.role, "power") for t in targets]
        cpu = time.process_time()
        found = hour_pue(hour, listed, samples)
        closing = round(time.process_time() - cpu, 4)
        print(
            json.dumps(
                {
                    "meters": args.meters,
                    "rounds": rounds,
                    "hour_close_cpu_s": closing,
                    "samples_per_meter_hour": len(next(iter(samples.values()))),
                    "pue": found.pue,
                }
            )
        )
    finally:
        pool.close()
        plant.stop()


if __name__ == "__main__":
    main()
