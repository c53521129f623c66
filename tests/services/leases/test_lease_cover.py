"""A device lease covers its lessee's compute records that ran only on leased devices: the meter
writes each record's device indexes (all of its replica's), and the lease reads them from
billing's records without reading replicas (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from billing_support import POWER, T0, fresh_store, running_replica
from sqlalchemy import select

from aicc.services.billing.meter import Meter
from aicc.services.jobs import metering
from aicc.services.leases import sla
from aicc.services.telemetry.samples import Measured
from aicc.store.db import Database
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.jobs import ReplicaRow
from aicc.store.tables.leases import CapacityLeaseRow
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.tenancy import ProjectRow

ZONE = "Asia/Shanghai"


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    yield from fresh_store(tmp_path, db_url)


def test_a_device_lease_covers_the_records_on_its_devices_alone(db: Database) -> None:
    inside = running_replica(db, [(0, 1000)], simulated=True)  # device 0 of its node: leased
    across = running_replica(db, [(0, 500), (1, 500)], simulated=True)  # device 1 is not
    without = running_replica(db, [], simulated=True)  # no device: not on a leased one
    reps = (inside, across, without)
    with db.session() as session:
        nodes = {
            r.id: session.get_one(NodeRow, r.node_id).name
            for r in session.scalars(select(ReplicaRow).where(ReplicaRow.id.in_(reps)))
        }
        org_id = session.scalars(select(ProjectRow)).one().org_id
        session.add(
            CapacityLeaseRow(
                id="lease-1", org_id=org_id, nodes=[],
                devices=[{"node": nodes[r], "index": 0} for r in reps], pool=None,
                starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(days=1), tier=99.9,
                plan=None, state="active", ended_at=None, created_by=None, created_at=T0,
                updated_at=T0,
            )
        )  # fmt: skip
        meter = Meter(session, zone=ZONE, power=POWER, samples=Measured(session))
        assert metering.meter(session, meter, T0 + timedelta(hours=1, minutes=45)) == 6
    with db.reader() as session:
        records = {r.id: r for r in session.scalars(select(UsageRow))}
        found = sla.covered(session, org_id, "2026-11", ZONE)
    assert sorted((r.replica_id, r.device_indexes) for r in records.values()) == sorted(
        [(inside, [0])] * 2 + [(across, [0, 1])] * 2 + [(without, [])] * 2
    )
    assert sorted(records[i].replica_id for i in found) == [inside, inside]
    assert set(found.values()) == {"lease-1"}
