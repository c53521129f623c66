"""The program a cleaning job runs: `python -m aicc.cleaning --input DIR --output DIR ...`.

It cleans every .txt, .jsonl, .csv and .parquet file under the input (in path order, so the
dedup steps keep the same first copy on every run), writes each to the same relative path under
the output, copies every other file unchanged, and writes the report `_aicc_clean_report.json`
last: an output without it is an interrupted run. Bad input exits 2 with one line saying what
to fix.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from aicc.cleaning.filters import Filter
from aicc.cleaning.formats import FORMATS, FormatError
from aicc.cleaning.pipeline import STEPS, Options, Pipeline, parse_steps

REPORT: Final = "_aicc_clean_report.json"


class CleaningError(ValueError):
    """Input the runner cannot clean; the message says what to fix."""


def run(
    source: Path,
    target: Path,
    options: Options,
    text_column: str = "text",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Clean `source` into `target` and return the report (also written to `target/REPORT`)."""
    pipeline = Pipeline(options, progress=lambda n: log(f"  {n:,} records"))
    source, target = _check_dirs(source, target)
    started = time.monotonic()
    paths = sorted(p for p in source.rglob("*") if p.is_file() and p != source / REPORT)
    files: list[dict[str, Any]] = []
    copied = 0
    for count, path in enumerate(paths, 1):
        name = path.relative_to(source).as_posix()
        dst = target / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        clean = FORMATS.get(path.suffix.lower())
        if clean is None:
            shutil.copyfile(path, dst)
            copied += 1
            continue
        before_in, before_out, begun = pipeline.records_in, pipeline.records_out, time.monotonic()
        clean(path, dst, name, pipeline, text_column)
        records_in = pipeline.records_in - before_in
        records_out = pipeline.records_out - before_out
        files.append({"path": name, "records_in": records_in, "records_out": records_out})
        log(
            f"[{count}/{len(paths)}] {name}: {records_in:,} records in, {records_out:,} out "
            f"({time.monotonic() - begun:.1f} s)"
        )
    report: dict[str, Any] = {
        "steps": list(pipeline.steps),
        "text_column": text_column,
        "threshold": options.threshold,
        "min_chars": options.filter.min_chars,
        "max_chars": options.filter.max_chars,
        "lang": sorted(options.filter.langs) if options.filter.langs else None,
        "files": files,
        "copied": copied,
        **pipeline.counts(),
        "seconds": round(time.monotonic() - started, 3),
    }
    (target / REPORT).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    log(
        f"done: {pipeline.records_in:,} records in, {pipeline.records_out:,} out; removed "
        f"{dict(pipeline.removed)}, masked {dict(pipeline.masked)}; report {target / REPORT}"
    )
    return report


def _check_dirs(source: Path, target: Path) -> tuple[Path, Path]:
    source, target = source.resolve(), target.resolve()
    if not source.is_dir():
        raise CleaningError(f"input {source}: not a directory")
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise CleaningError(
            f"output {target} and input {source}: one may not hold the other; "
            "write the output somewhere else"
        )
    if target.exists() and not target.is_dir():
        raise CleaningError(f"output {target}: exists and is not a directory")
    target.mkdir(parents=True, exist_ok=True)
    return source, target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aicc.cleaning",
        description="Clean a directory of .txt, .jsonl, .csv and .parquet files into another.",
    )
    parser.add_argument("--input", required=True, type=Path, help="the directory to clean")
    parser.add_argument("--output", required=True, type=Path, help="where to write (created)")
    parser.add_argument(
        "--steps", default=",".join(STEPS), help=f"in order, from {', '.join(STEPS)}"
    )
    parser.add_argument(
        "--text-column", default="text", help="JSONL field or table column with the text"
    )
    parser.add_argument("--min-chars", type=int, default=0, help="filter: shorter is dropped")
    parser.add_argument("--max-chars", type=int, default=None, help="filter: longer is dropped")
    parser.add_argument("--lang", default=None, help="filter: languages to keep, e.g. zh,en")
    parser.add_argument(
        "--threshold", type=float, default=0.8, help="near_dup: Jaccard similarity to drop at"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the output is complete, 2 on a bad option, 1 on input it cannot clean."""
    parser = _parser()
    args = parser.parse_args(argv)
    langs = None
    if args.lang is not None:
        langs = frozenset(x.strip() for x in args.lang.split(",") if x.strip())
    try:
        steps, kept = parse_steps(args.steps), Filter(args.min_chars, args.max_chars, langs)
        options = Options(steps, kept, args.threshold)
    except ValueError as error:
        parser.error(str(error))  # exits 2 with the usage line
    try:
        run(args.input, args.output, options, args.text_column, log=_progress)
    except (CleaningError, FormatError) as error:
        print(f"aicc.cleaning: error: {error}", file=sys.stderr)
        return 1
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)
