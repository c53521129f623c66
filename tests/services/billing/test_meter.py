"""The meter on the store (SQLite and PostgreSQL): usage cut at whole hours, recorded exactly
once whatever passes run and however often, energy from the power model and carbon at the
intensity of each record's hour, storage per day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from billing_support import POWER, T0, fresh_store, running_replica
from sqlalchemy import select

from aicc.core.energy import parse_profile
from aicc.core.pricing import PricePlan
from aicc.services.billing import meter, rating
from aicc.services.billing.meter import Meter
from aicc.services.jobs import metering, workdirs
from aicc.services.serving import metering as request_metering
from aicc.services.telemetry.samples import Measured
from aicc.store.db import Database
from aicc.store.tables.billing import UsageRow
from aicc.store.tables.data import StorageLevelRow
from aicc.store.tables.images import ImageStorageLevelRow
from aicc.store.tables.jobs import ReplicaRow, WorkdirRow
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.serving import GatewayRequestRow
from aicc.store.tables.telemetry import DeviceSampleRow
from aicc.store.tables.tenancy import ProjectRow


@pytest.fixture
def db(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    yield from fresh_store(tmp_path, db_url)


def _pass(db: Database, observed: datetime) -> int:
    with db.session() as session:
        return metering.meter(
            session,
            Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session)),
            observed,
        )


def _records(db: Database) -> list[UsageRow]:
    with db.reader() as session:
        return list(session.scalars(select(UsageRow).order_by(UsageRow.start)))


def test_running_usage_is_cut_at_whole_hours_and_recorded_once(db: Database) -> None:
    rep_id = running_replica(db, [(0, 500)], simulated=True)
    observed = T0 + timedelta(hours=1, minutes=45)  # 11:05
    with db.reader() as session:
        assert metering.due(session, observed)
    assert _pass(db, observed) == 2  # 09:20-10:00 and 10:00-11:00; 11:00-11:05 is not closed
    assert _pass(db, observed + timedelta(minutes=1)) == 0
    with db.reader() as session:
        assert not metering.due(session, observed + timedelta(minutes=1))
    with db.session() as session:  # it ends at 11:30:15.250
        rep = session.get(ReplicaRow, rep_id)
        assert rep is not None
        rep.ended_at = T0 + timedelta(hours=2, minutes=10, seconds=15, milliseconds=250)
        rep.state = "exited"
    assert _pass(db, observed + timedelta(hours=1)) == 1
    with db.session() as session:  # a pass that lost its bookkeeping records nothing twice
        rep = session.get(ReplicaRow, rep_id)
        assert rep is not None
        rep.metered_to = None
    assert _pass(db, observed + timedelta(hours=2)) == 0
    rows = _records(db)
    assert [(r.start.astimezone(UTC).strftime("%H:%M"), r.duration_us) for r in rows] == [
        ("09:20", 40 * 60 * 10**6),
        ("10:00", 3600 * 10**6),
        ("11:00", (30 * 60 + 15) * 10**6 + 250_000),
    ]
    assert {(r.milli, r.devices, r.simulated, r.energy_kwh) for r in rows} == {(500, 1, True, 0.0)}
    assert {r.period for r in rows} == {"2026-11"} and len({r.key for r in rows}) == 3


def test_a_replica_that_ended_as_it_started_is_metered_with_nothing_to_bill(db: Database) -> None:
    """Slurm's times are whole seconds: a replica under one second starts and ends at the same
    instant. It is done with, not due forever (where, 2000 of them at the head of every pass,
    they would have kept every other replica from being metered)."""
    rep_id = running_replica(db, [(0, 1000)], simulated=True)
    with db.session() as session:
        rep = session.get(ReplicaRow, rep_id)
        assert rep is not None
        rep.ended_at, rep.state = rep.started_at, "exited"
    observed = T0 + timedelta(minutes=5)
    assert _pass(db, observed) == 0
    with db.reader() as session:
        rep = session.get(ReplicaRow, rep_id)
        assert rep is not None and rep.metered_to == rep.ended_at
        assert not metering.due(session, observed)
    assert _records(db) == []


def test_energy_follows_the_power_model_and_measured_utilization(db: Database) -> None:
    running_replica(db, [(0, 1000), (1, 1000)])
    with db.session() as session:  # device 0 and 1 measured 40% busy during 10:00-11:00
        node_id = session.scalars(select(NodeRow.id)).one()
        for minute in range(0, 60, 10):
            for index in (0, 1):
                at = T0.replace(hour=10, minute=minute)
                session.add(DeviceSampleRow(node_id=node_id, index=index, at=at, utilization=0.4))
    _pass(db, T0 + timedelta(hours=2))
    first, second = _records(db)
    assert first.utilization is None and second.utilization == pytest.approx(0.4)
    tdp = 400  # A100-80GB, from the catalog
    unmeasured = tdp * (0.15 + 0.85 * 1.0) * 2 * (40 / 60) * 1.25 / 1000
    measured = tdp * (0.15 + 0.85 * 0.4) * 2 * 1.0 * 1.25 / 1000
    assert first.energy_kwh == pytest.approx(unmeasured)
    assert second.energy_kwh == pytest.approx(measured)
    # no energy profile: China's grid average, 536.6 gCO₂/kWh, for every hour
    assert first.carbon_kg == pytest.approx(unmeasured * 0.5366)
    assert second.carbon_kg == pytest.approx(measured * 0.5366)


def test_carbon_is_the_records_kwh_at_the_intensity_and_pue_of_its_hour(db: Database) -> None:
    """Two whole A100s from 09:20 UTC, unmeasured (400 W each at full use): the site's profile
    says PUE 1.5 then 1.1 and 600 then 300 gCO₂/kWh for the hours from 09:00 and 10:00."""
    rep_id = running_replica(db, [(0, 1000), (1, 1000)])
    hourly = {"start": "2026-11-03T09:00", "values": [1.5, 1.1]}
    profile = parse_profile(
        {"pue": hourly, "carbon_intensity": {**hourly, "values": [600, 300]}}, read=str
    )
    power = replace(POWER, profile=profile)

    def metered(power: meter.PowerModel) -> int:
        with db.session() as session:
            books = Meter(session, zone="Asia/Shanghai", power=power, samples=Measured(session))
            return metering.meter(session, books, T0 + timedelta(hours=2))

    assert metered(power) == 2
    first, second = _records(db)
    assert first.energy_kwh == pytest.approx(0.8) and first.carbon_kg == pytest.approx(0.48)
    assert second.energy_kwh == pytest.approx(0.88) and second.carbon_kg == pytest.approx(0.264)
    with db.session() as session:  # a pass that lost its bookkeeping, under another profile
        rep = session.get(ReplicaRow, rep_id)
        assert rep is not None
        rep.metered_to = None
    assert metered(replace(POWER, carbon_intensity=900.0)) == 0
    assert [r.carbon_kg for r in _records(db)] == [first.carbon_kg, second.carbon_kg]
    third = T0.replace(hour=11)  # past the profile's hours: the site's constant, 536.6 g/kWh
    assert power.carbon_at(third) == 536.6 and power.pue_at(third) == 1.25


def test_storage_is_recorded_per_closed_day(db: Database) -> None:
    with db.session() as session:
        org_id = session.scalars(select(ProjectRow.org_id)).one()
        made = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
        session.add(WorkdirRow(sha256="a" * 64, org_id=org_id, size=2 * 1024**3, created_at=made))
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)  # 20:00 on the 3rd in Shanghai
    for _ in range(2):
        with db.session() as session:
            books = Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session))
            books.storage(now, workdirs.archives_held(session))
    rows = _records(db)
    assert [r.key.rsplit(":", 1)[1] for r in rows] == ["2026-11-01", "2026-11-02"]
    assert [r.duration_us for r in rows] == [10 * 3600 * 10**6, 24 * 3600 * 10**6]
    assert {r.storage_bytes for r in rows} == {2 * 1024**3}
    assert {(r.energy_kwh, r.carbon_kg) for r in rows} == {(0.0, 0.0)}


def test_data_set_storage_is_billed_for_the_gib_days_held(db: Database) -> None:
    """Pushed at 14:00 (Shanghai) on the 1st, grown at 12:00 on the 2nd, deleted at 10:00 on
    the 3rd: 3 GiB for 22 hours then 5 GiB for 22 hours, cut at midnights, recorded once."""
    gib = 1024**3
    with db.session() as session:
        project_id = session.scalars(select(ProjectRow.id)).one()
        for at, level in (
            (datetime(2026, 11, 1, 6, 0, tzinfo=UTC), 3 * gib),
            (datetime(2026, 11, 2, 4, 0, tzinfo=UTC), 5 * gib),
            (datetime(2026, 11, 3, 2, 0, tzinfo=UTC), 0),
        ):
            session.add(StorageLevelRow(project_id=project_id, bytes=level, at=at))

    def books(now: datetime) -> int:
        with db.session() as session:
            return Meter(
                session, zone="Asia/Shanghai", power=POWER, samples=Measured(session)
            ).datasets(now)

    assert books(datetime(2026, 11, 2, 20, 0, tzinfo=UTC)) == 3  # the 1st and 2nd so far
    assert books(datetime(2026, 11, 5, 12, 0, tzinfo=UTC)) == 1  # up to the deletion
    assert books(datetime(2026, 11, 6, 12, 0, tzinfo=UTC)) == 0  # nothing stored since
    rows = _records(db)
    assert [(r.start.hour, r.end.hour, r.storage_bytes // gib) for r in rows] == [
        (6, 16, 3),  # the 1st ends at 16:00 UTC
        (16, 4, 3),
        (4, 16, 5),
        (16, 2, 5),
    ]
    assert {(r.kind, r.project_id, r.period) for r in rows} == {("storage", project_id, "2026-11")}
    plan = PricePlan(storage_gib_day=Decimal("0.30"))
    rated = [q for r in rows for q in rating.rate(r, plan)]
    assert {q.item for q in rated} == {"datasets"}
    assert sum(q.quantity for q in rated) == Fraction(3 * 22 + 5 * 22, 24)


def test_image_storage_is_billed_beside_data_sets(db: Database) -> None:
    """A project's images (the registry's blobs they use) are billed per GiB-day as its data
    sets are, as an item of their own; the two levels do not mix."""
    gib = 1024**3
    with db.session() as session:
        project_id = session.scalars(select(ProjectRow.id)).one()
        at = datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
        session.add(ImageStorageLevelRow(project_id=project_id, bytes=2 * gib, at=at))
        session.add(StorageLevelRow(project_id=project_id, bytes=gib, at=at))
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    for _ in range(2):  # recorded once
        with db.session() as session:
            books = Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session))
            books.images(now)
            books.datasets(now)
    rows = _records(db)
    assert sorted((r.replica_id, r.storage_bytes // gib) for r in rows) == [
        ("datasets", 1),
        ("images", 2),
    ]
    plan = PricePlan(storage_gib_day=Decimal("0.30"))
    rated = {q.item: q.quantity for r in rows for q in rating.rate(r, plan)}
    assert rated == {"datasets": Fraction(1), "images": Fraction(2)}


def test_gateway_requests_meter_once_and_a_failed_pass_keeps_nothing(db: Database) -> None:
    """Serving hands the meter the closed hours' answered requests and writes back the record
    each is on in the pass's transaction: a pass that fails keeps neither the records nor the
    marks, and the passes after it roll each request onto one record, once."""
    hour = T0.replace(minute=0)
    with db.session() as session:
        project = session.scalars(select(ProjectRow)).one()
        for n, (route, at, billable) in enumerate(
            [
                ("chat", hour + timedelta(minutes=5), True),
                ("chat", hour + timedelta(minutes=50), True),
                ("batch:b1", hour + timedelta(minutes=20), True),
                ("chat", hour + timedelta(minutes=30), False),  # not answered: never billed
                ("chat", hour + timedelta(hours=2), True),  # its hour is still open
            ]
        ):
            session.add(
                GatewayRequestRow(
                    id=f"req_{n}",
                    org_id=project.org_id,
                    project_id=project.id,
                    deployment_id="dep_1",
                    key_id="key_1",
                    route=route,
                    status=200 if billable else 502,
                    billable=billable,
                    prompt_tokens=3,
                    completion_tokens=5,
                    at=at,
                )
            )
    now = hour + timedelta(hours=1, minutes=10)

    def roll() -> int:
        with db.session() as session:
            books = Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session))
            return request_metering.meter(session, books, now)

    with pytest.raises(RuntimeError), db.session() as session:
        books = Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session))
        assert request_metering.meter(session, books, now) == 2
        raise RuntimeError("the pass dies before it commits")
    assert _records(db) == []
    assert roll() == 2  # the chat requests' record and the batch's
    assert roll() == 0
    rows = _records(db)
    assert sorted((r.replica_id or "", r.requests, r.prompt_tokens) for r in rows) == [
        ("", 2, 6),
        (rating.BATCH, 1, 3),
    ]
    with db.reader() as session:
        query = select(GatewayRequestRow.id, GatewayRequestRow.usage_id)
        marks = {id_: usage_id for id_, usage_id in session.execute(query)}
    chat = next(r.id for r in rows if r.replica_id is None)
    assert marks["req_0"] == marks["req_1"] == chat
    assert marks["req_2"] not in (None, chat)
    assert marks["req_3"] is None and marks["req_4"] is None
