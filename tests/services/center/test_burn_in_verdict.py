"""How a burn-in is judged (services/center/burn_in.py), on a real SQLite database (the
tables as declared, in memory): each figure against
`tolerance` times the median of the earlier passes of the node's kind and the floors of the kind
(its own over `*`); a figure below, one missing where a reference exists, or a failed GPU check
fails it, saying which."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from aicc.config import BurnInSettings
from aicc.services.center.burn_in import judge, references
from aicc.services.common import new_id, utcnow
from aicc.services.nodes.burn_ins import Verdict
from aicc.store.tables.base import Base
from aicc.store.tables.nodes import BurnInRow, NodeRow

SETTINGS = BurnInSettings(
    tolerance=0.5,
    floors=[
        {"kind": "*", "disk_write_mbs": 100, "cpu_gflops": 1},
        {"kind": "H100-SXM", "cpu_gflops": 50},
    ],
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """The tables as declared, in memory, with a node and its earlier burn-ins: passes of 10,
    30 and 20 GFLOP/s (median 20) and a failed one of 1000."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        node = NodeRow(id=new_id("node"), name="n1", cpu_milli=1000, memory_mib=1024)
        node.created_at = utcnow()
        session.add(node)
        session.flush()
        for i, gflops in enumerate([10.0, 30.0, 20.0]):
            session.add(_row(node.id, "H100-SXM", "passed", {"cpu_gflops": gflops}, i))
        session.add(_row(node.id, "H100-SXM", "failed", {"cpu_gflops": 1000.0}, 3))
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:  # judging writes nothing: nodes records its verdict
        yield session


def _row(node_id: str, kind: str, state: str, values: dict[str, float], age: int) -> BurnInRow:
    figures = {k: {"value": v, "unit": "GFLOP/s"} for k, v in values.items()}
    at = utcnow() - timedelta(hours=age + 1)
    return BurnInRow(
        id=new_id("brn"),
        node_id=node_id,
        kind=kind,
        state=state,
        figures=figures,
        checks={},
        reason="",
        started_at=at,
    )


def test_references_are_the_median_of_passes_and_the_kinds_floors(session: Session) -> None:
    # median 20 of the passes (the failed one's 1000 not counted) x 0.5 = 10, under the
    # kind's own floor of 50; disk's floor from `*`
    assert references(session, "H100-SXM", SETTINGS) == {"cpu_gflops": 50, "disk_write_mbs": 100}
    assert references(session, "cpu", SETTINGS) == {"cpu_gflops": 1, "disk_write_mbs": 100}
    assert references(session, "cpu", BurnInSettings()) == {}  # nothing to compare with yet


def _judged(session: Session, result: dict[str, Any] | None, why: str = "") -> Verdict:
    return judge(session, "H100-SXM", result, why, SETTINGS)


def _result(gpu: str = "passed", **values: float) -> dict[str, Any]:
    figures = {
        k: {"value": v, "unit": "MB/s" if "mbs" in k else "GFLOP/s"} for k, v in values.items()
    }
    return {"figures": figures, "skipped": {}, "gpu": {"state": gpu, "tool": "dcgmi"}}


def test_a_node_as_good_as_its_peers_passes(session: Session) -> None:
    verdict = _judged(session, _result(cpu_gflops=60, disk_write_mbs=300, memory_gbs=9))
    assert verdict.state == "passed" and verdict.reason == ""
    assert verdict.figures["cpu_gflops"] == {
        "value": 60,
        "unit": "GFLOP/s",
        "reference": 50,
        "passed": True,
    }
    assert verdict.figures["memory_gbs"]["reference"] is None  # nothing to compare it with yet


def test_a_figure_below_missing_or_a_failed_gpu_fails_saying_which(session: Session) -> None:
    verdict = _judged(session, _result(gpu="failed", cpu_gflops=12))
    assert verdict.state == "failed"
    assert verdict.figures["cpu_gflops"]["passed"] is False
    assert "cpu_gflops 12 GFLOP/s < 50 GFLOP/s" in verdict.reason
    assert "disk_write_mbs not measured" in verdict.reason
    assert "GPU check failed (dcgmi)" in verdict.reason


def test_a_job_that_left_no_result_fails_with_why(session: Session) -> None:
    verdict = _judged(session, None, "its job job_1 ended failed: exit code 1")
    assert verdict.state == "failed" and verdict.reason == "its job job_1 ended failed: exit code 1"
