"""Scheduler throughput benchmark; the code lives in `aicc.bench.scheduler`.

.venv/bin/python benchmarks/scheduler.py --nodes 10000 --gpus-per-node 8 --pending 100000
(the same as `aicc bench scheduler ... --json`)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from aicc.bench.scheduler import Settings, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in fields(Settings):
        if field.type in ("bool", bool):
            parser.add_argument(f"--{field.name}", action="store_true")
        else:
            kind = int if field.type in ("int", int) else str
            parser.add_argument(
                f"--{field.name.replace('_', '-')}", type=kind, default=field.default
            )
    args = parser.parse_args()
    print(json.dumps(run(Settings(**vars(args)))))


if __name__ == "__main__":
    main()
