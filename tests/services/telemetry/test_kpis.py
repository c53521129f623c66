"""Utilization KPIs on the store (SQLite and PostgreSQL): NVML samples matched by UUID, busy
rates only where measured, allocation rates, and idle allocations flagged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from billing_support import T0, fresh_store, running_replica

from aicc.core.tenancy import Principal, Role
from aicc.core.topology import DeviceReading
from aicc.services.common import Forbidden
from aicc.services.telemetry import kpis, samples
from aicc.store.db import Database

ADMIN = Principal("usr_x", "admin", "org_x", Role.ADMIN)
UUIDS = ("GPU-aaaa", "GPU-bbbb")


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    yield from fresh_store(tmp_path, db_url)


def sample(db: Database, minutes: range, busy: dict[str, float]) -> None:
    for minute in minutes:
        readings = [DeviceReading(u, util, 1000) for u, util in busy.items()]
        readings.append(DeviceReading("GPU-not-registered", 0.9, 1))
        with db.session() as session:
            samples.record(session, T0 + timedelta(minutes=minute), readings)


def test_busy_is_measured_or_absent_and_idle_allocations_are_flagged(db: Database) -> None:
    running_replica(db, [(0, 1000)], uuids=UUIDS)  # holds GPU 0 from T0 (09:20 UTC)
    sample(db, range(0, 45, 5), {"GPU-aaaa": 0.02, "GPU-bbbb": 0.6})
    now = T0 + timedelta(minutes=40)
    with db.reader() as session:
        rows = kpis.utilization(
            session, ADMIN, by="model", first=T0.date(), days=1, zone="UTC", now=now
        )
        (row,) = rows
        assert (row.by, row.group) == ("model", "A100-80GB") and row.simulated is False
        assert row.busy_rate == pytest.approx(0.31) and row.busy_samples == 16
        day_so_far = (now - T0.replace(hour=0, minute=0)).total_seconds() / 3600
        assert row.capacity_device_hours == pytest.approx(2 * day_so_far)
        assert row.allocated_device_hours == pytest.approx(40 / 60)
        flagged = kpis.idle(session, ADMIN, now=now)
        assert [(f.devices, f.model) for f in flagged] == [([0], "A100-80GB")]
        by_org = kpis.utilization(
            session, ADMIN, by="org", first=T0.date(), days=1, zone="UTC", now=now
        )
        assert [r.busy_rate for r in by_org] == [pytest.approx(0.02)]  # its own GPU only
        member = Principal("usr_y", "m", "org_x", Role.MEMBER)
        with pytest.raises(Forbidden):
            kpis.utilization(
                session, member, by="org", first=T0.date(), days=1, zone="UTC", now=now
            )


def test_without_measurements_there_is_no_busy_rate_and_no_idle_flag(db: Database) -> None:
    running_replica(db, [(0, 500)], simulated=True)
    now = T0 + timedelta(hours=1)
    with db.reader() as session:
        rows = kpis.utilization(
            session, ADMIN, by="pool", first=T0.date(), days=1, zone="UTC", now=now
        )
        assert [(r.simulated, r.busy_rate) for r in rows] == [(True, None)]
        assert rows[0].allocated_device_hours == pytest.approx(0.5)
        assert kpis.idle(session, ADMIN, now=now) == []
