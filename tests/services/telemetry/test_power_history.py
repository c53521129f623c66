"""A node's power history (services/telemetry/samples.py): BMC samples keep the limit in force,
the curve is the BMC's where it has samples (RAPL's never mixed in), old samples go after the
retention, and an unknown node is not found."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from billing_support import T0, fresh_store
from sqlalchemy import func, select

from aicc.services.common import NotFound, new_id
from aicc.services.telemetry import samples
from aicc.store.db import Database
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.telemetry import NODE_INDEX, DeviceSampleRow


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    yield from fresh_store(tmp_path_factory.mktemp("power"), None)


def a_node(db: Database) -> tuple[str, str]:
    name = new_id("node")
    with db.session() as session:
        row = NodeRow(id=new_id("node"), name=name, cpu_milli=8000, memory_mib=65536, created_at=T0)
        session.add(row)
        session.flush()
        return row.id, name


def test_the_bmc_curve_carries_its_limit_and_leaves_rapl_apart(db: Database) -> None:
    node_id, name = a_node(db)
    with db.session() as session:
        for minute in range(60):
            at = T0 + timedelta(minutes=minute)
            samples.record_power(
                session,
                at,
                [(node_id, 800.0 + minute, "bmc", 900.0), (node_id, 150.0, "rapl", None)],
            )
    with db.reader() as session:
        curve = samples.power_curve(session, name, hours=1, now=T0 + timedelta(minutes=60))
    assert curve.source == "bmc" and curve.sources == ["bmc", "rapl"]
    assert curve.samples == 60 and curve.bucket_s == 12 and len(curve.buckets) == 60
    assert curve.max_w == 859.0 and curve.now_w == 859.0 and curve.limit_w == 900.0
    assert min(b.min_w for b in curve.buckets) == 800.0  # no RAPL figure in the BMC's curve
    assert all(b.limit_w == 900.0 for b in curve.buckets)
    assert curve.kwh == pytest.approx((800 + 859) / 2 * 59 / 60 / 1000)


def test_rapl_alone_is_its_curve_and_old_samples_go(db: Database) -> None:
    node_id, name = a_node(db)
    with db.session() as session:
        samples.record_power(session, T0, [(node_id, 120.0, "rapl", None)])
        later = T0 + timedelta(days=3)
        samples.record_power(session, later, [(node_id, 130.0, "rapl", None)])
        assert samples.prune_power(session, later, timedelta(days=2)) >= 1  # every node's
    with db.reader() as session:
        kept = session.scalar(
            select(func.count())
            .select_from(DeviceSampleRow)
            .where(DeviceSampleRow.node_id == node_id, DeviceSampleRow.index == NODE_INDEX)
        )
        curve = samples.power_curve(session, name, hours=24 * 31, now=later)
    assert kept == 1  # the first sample was older than the retention
    assert curve.source == "rapl" and curve.samples == 1 and curve.now_w == 130.0
    assert curve.kwh == 0.0 and curve.avg_w == 130.0 and curve.limit_w is None


def test_an_unknown_node_is_not_found_and_an_unmeasured_one_empty(db: Database) -> None:
    _, name = a_node(db)
    with db.reader() as session:
        with pytest.raises(NotFound, match="no-such"):
            samples.power_curve(session, "no-such", hours=1, now=T0)
        empty = samples.power_curve(session, name, hours=1, now=T0)
    assert empty.source == "" and empty.buckets == [] and empty.now_w is None
