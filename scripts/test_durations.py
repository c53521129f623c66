"""Write tests/durations.json, each test file's seconds in a run, from that run's JUnit XML
(`make test` writes tests/artifacts/junit.xml). tests/conftest.py runs the slowest files first:
with `--dist loadfile` a worker takes a whole file at a time, and a long file taken last keeps
the other worker idle until it ends.

    .venv/bin/python scripts/test_durations.py tests/artifacts/junit.xml [--machine TEXT]
"""

from __future__ import annotations

import argparse
import collections
import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "durations.json"


def per_file(junit: Path) -> dict[str, float]:
    """Seconds per test file (setup, call and teardown of each of its tests)."""
    seconds: collections.Counter[str] = collections.Counter()
    for case in ET.parse(junit).iter("testcase"):
        module = (case.get("classname") or "").split("::")[0]
        # pytest names a test's class as its module path in dots, plus the class if any
        parts = module.split(".")
        while parts and not Path("/".join(parts) + ".py").exists():
            parts.pop()
        if parts:
            seconds["/".join(parts) + ".py"] += float(case.get("time") or 0)
    return dict(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", type=Path)
    parser.add_argument("--machine", default="2-core dev VM")
    args = parser.parse_args()
    files = per_file(args.junit)
    record = {
        "about": "seconds per test file in one run of the suite; only their order is used "
        "(tests/conftest.py runs the slowest first). scripts/test_durations.py writes it.",
        "machine": args.machine,
        "date": date.today().isoformat(),
        "files": {name: round(files[name], 1) for name in sorted(files, key=lambda n: -files[n])},
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{OUT}: {len(files)} files, {sum(files.values()):.0f} s in all")


if __name__ == "__main__":
    main()
