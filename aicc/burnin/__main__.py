"""`python -m aicc.burnin --out FILE [--seconds S] [--scratch DIR] [--disk-mib N]
[--network-mib N] [--peer HOST:PORT] [--gpus N]`: measure this node and write the result as
JSON. `--gpus`: how many accelerators the job was granted (0: the GPU check is skipped)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from aicc.burnin import VERSION, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aicc.burnin")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--scratch", type=Path, default=None)
    parser.add_argument("--disk-mib", type=int, default=256)
    parser.add_argument("--network-mib", type=int, default=64)
    parser.add_argument("--peer", default=None)
    # accelerators granted to this job: with none, the GPU check is skipped, saying so
    parser.add_argument("--gpus", type=int, default=None)
    args = parser.parse_args(argv)
    scratch = args.scratch or Path(tempfile.gettempdir())
    result = run(
        seconds=args.seconds,
        scratch=scratch,
        disk_mib=args.disk_mib,
        network_mib=args.network_mib,
        peer=args.peer or None,
        gpus=args.gpus,
    )
    body = json.dumps(result.as_json(VERSION), indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(body)
    os.replace(partial, args.out)  # whole or not at all
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
