"""The scheduler decides bit for bit as it did before issue 17's refactoring: the decisions of the
small generated traces hash as recorded at main 247c2d4 (tests/scheduler/decision_hashes.json;
the full set, openb and Philly included, is `benchmarks/decision_hashes.py --check`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aicc.bench.decisions import hash_of, runs

RECORDED = json.loads((Path(__file__).parent / "decision_hashes.json").read_text())
FAST = [name for name in runs() if name.startswith(("synthetic-pods/", "synthetic-jobs/"))]


def test_every_run_has_a_recorded_hash() -> None:
    assert set(runs()) <= set(RECORDED)


@pytest.mark.parametrize("name", FAST)
def test_decisions_hash_as_recorded(name: str) -> None:
    digest, count, _ = hash_of(name)
    assert count == RECORDED[name]["decisions"]
    assert digest == RECORDED[name]["sha256"]
