"""The recorded benchmark results are data, and BENCHMARKS.md is generated from them.

Every file in benchmarks/results/ (besides index.json) is a list of records with the fields
`scripts/benchmarks_page.py` renders; index.json names each area once and describes every
machine a record names. BENCHMARKS.md is exactly what the script writes, and stays under 40 KB.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "BENCHMARKS.md"
MAX_PAGE_BYTES = 40_000
ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def _page_script() -> ModuleType:
    path = ROOT / "scripts" / "benchmarks_page.py"
    spec = importlib.util.spec_from_file_location("benchmarks_page", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAGE_SCRIPT = _page_script()
AREA_FILES = PAGE_SCRIPT.area_files(RESULTS)


def _index() -> dict[str, Any]:
    index: dict[str, Any] = json.loads((RESULTS / "index.json").read_text(encoding="utf-8"))
    return index


def test_every_area_file_is_in_the_index_and_the_reverse() -> None:
    listed = [area["file"] for area in _index()["areas"]]
    assert len(listed) == len(set(listed)), "an area is listed twice in index.json"
    assert sorted(listed) == sorted(p.stem for p in AREA_FILES), (
        "benchmarks/results/index.json must name every results file, and only those"
    )
    for area in _index()["areas"]:
        assert area["title"] and area["about"], area["file"]


@pytest.mark.parametrize("path", AREA_FILES, ids=lambda p: p.name)
def test_results_file_parses_and_every_record_is_complete(path: Path) -> None:
    records = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(records, list) and records, f"{path.name}: a non-empty list of records"
    machines = [m["name"] for m in _index()["machines"]]
    ids = [record.get("id") for record in records]
    assert len(ids) == len(set(ids)), f"{path.name}: ids repeat"
    for record in records:
        where = f"{path.name}:{record.get('id')}"
        assert set(record) == set(PAGE_SCRIPT.FIELDS), f"{where}: fields {sorted(record)}"
        assert ID.match(record["id"]), f"{where}: the id is not stable kebab-case"
        for field in ("title", "command", "machine", "date"):
            assert isinstance(record[field], str) and record[field], f"{where}: {field}"
        assert isinstance(record["value"], int | float | str), f"{where}: value"
        assert not isinstance(record["value"], bool), f"{where}: value"
        assert isinstance(record["unit"], str) and isinstance(record["notes"], str), where
        datetime.date.fromisoformat(record["date"])
        assert record["commit"] is None or COMMIT.match(record["commit"]), f"{where}: commit"
        peer = record["peer"]
        if peer is not None:
            assert set(peer) == {"name", "value"} and peer["name"], f"{where}: peer"
        ratio = record["ratio"]
        assert ratio is None or isinstance(ratio, int | float), f"{where}: ratio"
        assert ratio is None or peer is not None, f"{where}: a ratio without a peer"
        if record["goal"] is None:
            assert record["met"] is None, f"{where}: met without a goal"
        else:
            assert isinstance(record["goal"], str) and record["goal"], f"{where}: goal"
            assert record["met"] in (True, False, None), f"{where}: met"
        assert any(record["machine"].startswith(name) for name in machines), (
            f"{where}: the machine {record['machine']!r} is not described in index.json"
        )


def test_benchmarks_page_is_generated_from_the_results() -> None:
    assert PAGE_SCRIPT.check(PAGE, RESULTS), (
        "BENCHMARKS.md is stale: run python scripts/benchmarks_page.py"
    )


def test_benchmarks_page_is_at_most_40_kb() -> None:
    size = PAGE.stat().st_size
    assert size <= MAX_PAGE_BYTES, (
        f"BENCHMARKS.md is {size:,} bytes: keep it a page of current figures (at most "
        f"{MAX_PAGE_BYTES:,}); detail belongs in the records' notes"
    )


def test_every_unmet_goal_is_listed() -> None:
    text = PAGE.read_text(encoding="utf-8")
    unmet = text.split("## What is not met", 1)[1].split("\n## ", 1)[0]
    for path in AREA_FILES:
        for record in json.loads(path.read_text(encoding="utf-8")):
            if record["goal"] and record["met"] is False:
                assert record["title"] in unmet, f"{path.name}:{record['id']}"
