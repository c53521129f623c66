"""The scheduler's decisions as SHA-256 hashes; the code lives in `aicc.bench.decisions`.

.venv/bin/python benchmarks/decision_hashes.py                 # every run, prints JSON
.venv/bin/python benchmarks/decision_hashes.py --only openb/fgd,philly/
.venv/bin/python benchmarks/decision_hashes.py --check tests/scheduler/decision_hashes.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from aicc.bench.decisions import hash_of, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated run names or prefixes (openb/, philly/)")
    parser.add_argument("--check", type=Path, help="compare with this JSON of recorded hashes")
    args = parser.parse_args()
    names = list(runs())
    if args.only:
        wanted = args.only.split(",")
        names = [n for n in names if any(n == w or n.startswith(w) for w in wanted)]
    expected = json.loads(args.check.read_text()) if args.check else {}
    result: dict[str, dict[str, Any]] = {}
    bad = 0
    for name in names:
        digest, count, seconds = hash_of(name)
        result[name] = {"sha256": digest, "decisions": count}
        same = (
            ""
            if name not in expected
            else ("same" if expected[name]["sha256"] == digest else "DIFF")
        )
        bad += same == "DIFF"
        print(f"{name:28} {digest} {count:8d} {seconds:7.1f}s {same}", file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
