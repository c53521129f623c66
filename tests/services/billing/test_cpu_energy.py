"""A CPU job's energy: its node's measured power (RAPL or BMC samples) shared by the job's CPU
and memory, PUE applied, with the method on the record (issue 62.3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from billing_support import POWER, T0, fresh_store, running_replica
from sqlalchemy import select

from aicc.core.energy import node_share
from aicc.services.billing import records
from aicc.services.billing.meter import Meter
from aicc.services.jobs import metering
from aicc.services.telemetry import samples
from aicc.services.telemetry.samples import Measured
from aicc.store.db import Database
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.nodes import NodeRow


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    yield from fresh_store(tmp_path, db_url)


@pytest.mark.parametrize("source", ["rapl", "bmc"])
def test_a_cpu_jobs_record_has_kwh_and_co2_by_the_named_method(db: Database, source: str) -> None:
    running_replica(db, [])  # no accelerator: 2 of the node's 8 cores, 4 of its 64 GiB
    with db.session() as session:
        node_id = session.scalars(select(NodeRow.id)).one()
        for minute in range(0, 60, 5):  # 10:00-11:00, the node drew 400 W, then 600 W
            watts = 400.0 if minute < 30 else 600.0
            samples.record_power(
                session, T0.replace(hour=10, minute=minute), [(node_id, watts, source, None)]
            )
    with db.session() as session:
        metering.meter(
            session,
            Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session)),
            T0 + timedelta(hours=2),
        )
    with db.reader() as session:
        first, second = session.scalars(select(UsageRow).order_by(UsageRow.start)).all()
    assert first.energy_method is None and first.energy_kwh == 0  # 09:20-10:00: not measured
    share = node_share(2000, 4096, 8000, 65536)
    assert share == pytest.approx((0.25 + 0.0625) / 2)
    assert second.energy_method == source
    assert second.energy_kwh == pytest.approx(500 * share * 1.0 * 1.25 / 1000)
    assert second.carbon_kg == pytest.approx(second.energy_kwh * 0.5366)
    view = records._record(second)
    assert view.energy_method == source
    found = records.footprint([records._record(first), view])
    assert found is not None and found.by_method == {source: pytest.approx(second.energy_kwh)}


def test_an_accelerator_record_names_nvml_or_estimated(db: Database) -> None:
    running_replica(db, [(0, 1000)])
    with db.session() as session:
        metering.meter(
            session,
            Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session)),
            T0 + timedelta(hours=1),
        )
    with db.reader() as session:
        (record,) = session.scalars(select(UsageRow)).all()
    assert record.energy_method == "estimated" and record.energy_kwh > 0
