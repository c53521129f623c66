"""Regenerate the generated part of the docs: the job spec's JSON Schema in docs/job-spec.md.

    python scripts/gen_docs.py           # rewrite the block between the schema markers
    python scripts/gen_docs.py --check   # exit 1 when the block is stale (tests/test_docs.py)

The block is `json.dumps(job_spec_schema(), indent=2, sort_keys=True)` in a ```json fence,
between `<!-- schema:start -->` and `<!-- schema:end -->`; everything else in the page is prose
that people write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOB_SPEC_DOC = ROOT / "docs" / "job-spec.md"
START = "<!-- schema:start -->"
END = "<!-- schema:end -->"


def schema_json() -> str:
    """The job spec's JSON Schema as the docs show it."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run from a checkout without an installed package
    from aicc.core.jobspec import job_spec_schema

    return json.dumps(job_spec_schema(), indent=2, sort_keys=True)


def render(text: str) -> str:
    """`text` with its schema block replaced by the current schema.

    Raises ValueError when the markers are missing or out of order, so a damaged page is
    reported instead of being silently extended.
    """
    start = text.find(START)
    end = text.find(END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"the page must hold {START} and then {END}")
    block = f"{START}\n```json\n{schema_json()}\n```\n{END}"
    return text[:start] + block + text[end + len(END) :]


def check(path: Path = JOB_SPEC_DOC) -> bool:
    """True when the page's schema block matches the code."""
    text = path.read_text(encoding="utf-8")
    return render(text) == text


def write(path: Path = JOB_SPEC_DOC) -> bool:
    """Bring the page up to date; returns whether it changed."""
    text = path.read_text(encoding="utf-8")
    new = render(text)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the JSON Schema in docs/job-spec.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is stale")
    parser.add_argument("--doc", type=Path, default=JOB_SPEC_DOC, help="the page to update")
    args = parser.parse_args(argv)
    try:
        if args.check:
            if check(args.doc):
                return 0
            print(
                f"{args.doc}: the JSON Schema block is stale; run python scripts/gen_docs.py",
                file=sys.stderr,
            )
            return 1
        changed = write(args.doc)
    except (OSError, ValueError) as err:
        print(f"{args.doc}: {err}", file=sys.stderr)
        return 1
    print(f"{args.doc}: {'updated' if changed else 'already up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
