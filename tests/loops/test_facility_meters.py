"""The center's facility meters end to end against a real Modbus TCP server (pymodbus' own,
started on 127.0.0.1 by aicc/testing/modbus.py) read through the real client (pymodbus):
register maps of several types and word orders, a meter that does not answer delaying no other,
an hour's measured PUE from the readings with the next hour a gap, a job's record using the
measured PUE of its hour (and the configured one in the gap) with the method named, the monthly
report beside the configured PUE, and a live server showing the meters on the operator's
dashboard, the KPI route and /metrics, to admins only (issue 62)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from billing_support import POWER, T0, fresh_store, running_replica
from sqlalchemy import select

from aicc.core.meters import Outcome, Register, Target
from aicc.core.pricing import PricePlan
from aicc.core.revenue import Agreement
from aicc.core.tenancy import Principal, Role
from aicc.executors.meters import Pool
from aicc.services.billing import facility
from aicc.services.billing.meter import Meter
from aicc.services.jobs import metering
from aicc.services.reports.monthly import monthly
from aicc.services.telemetry.samples import Measured
from aicc.store.db import Database
from aicc.store.tables.billing import FacilityHourRow, UsageRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing import modbus, redfish
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

pytest.importorskip("pymodbus")

GRID = Register(3059, "float32", "big", unit="kW")  # a power meter's total active power
IT = Register(100, "uint32", "little", unit="Wh", table="input")  # a counter, low word first
CHILLER = Register(40, "int16", "big", scale=10, unit="W")  # tens of watts


@pytest.fixture(scope="module")
def plant() -> Iterator[modbus.Plant]:
    found = modbus.Plant(units=(1, 2, 3))
    try:
        yield found.start()
    finally:
        found.stop()


def targets(port: int) -> list[Target]:
    return [
        Target("grid", "utility", "127.0.0.1", port, 1, GRID, timeout_s=2),
        Target("it", "it", "127.0.0.1", port, 2, IT, timeout_s=2),
        Target("chiller", "cooling", "127.0.0.1", port, 3, CHILLER, timeout_s=2),
    ]


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def read_all(pool: Pool, wanted: list[Target]) -> dict[str, Outcome]:
    pool.submit(wanted)
    got: dict[str, Outcome] = {}
    until(lambda: got.update({o.meter: o for o in pool.done()}) or len(got) == len(wanted), 10)
    return got


def test_register_maps_read_and_a_silent_meter_delays_no_other(plant: modbus.Plant) -> None:
    plant.set(1, GRID, 1312.5)
    plant.set(2, IT, 987654.321)
    plant.set(3, CHILLER, 187.4)
    silent = redfish.Silent()  # accepts TCP and never answers
    silent_port = int(silent.address.rsplit(":", 1)[1])
    pool = Pool(workers=4)
    try:
        hung = Target("hung", "it", "127.0.0.1", silent_port, 1, GRID, timeout_s=5)
        absent = Target("absent", "it", "127.0.0.1", plant.port, 9, GRID, timeout_s=2)
        pool.submit([hung, absent, *targets(plant.port)])
        got: dict[str, Outcome] = {}
        until(lambda: got.update({o.meter: o for o in pool.done()}) or len(got) >= 4, 10)
        assert pool.busy("hung")  # the others were read while the hung one still waits
        assert got["grid"].kw == pytest.approx(1312.5) and got["grid"].kwh is None
        assert got["it"].kwh == pytest.approx(987654.321, abs=0.001)  # a Wh counter, in kWh
        assert got["chiller"].kw == pytest.approx(187.4)  # int16 tens of W: 18740 -> 187.4 kW
        assert got["absent"].kw is None  # no unit 9: an exception answer, named
        assert got["absent"].error.startswith("Modbus exception 4 (server device failure)")
        late = until(lambda: [o for o in pool.done() if o.meter == "hung"], timeout=10)
        assert late[0].error and late[0].kw is None  # its one timeout, no retries
    finally:
        pool.close()
        silent.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    yield from fresh_store(tmp_path, None)


def test_an_hours_measured_pue_a_gap_and_a_jobs_record(plant: modbus.Plant, db: Database) -> None:
    hour = T0.replace(minute=0) + timedelta(hours=1)  # 10:00; the replica runs from 09:20
    pool = Pool(workers=3)
    counter = 5000.0
    try:
        # 10:00-11:00 read every 5 minutes: grid 1300 kW, IT 1000 kW (a counter), chiller 250 kW
        for minute in range(0, 61, 5):
            plant.set(1, GRID, 1300.0)
            plant.set(2, IT, counter)  # kept in Wh
            plant.set(3, CHILLER, 250.0)  # kept as 25,000 tens of W, an int16
            got = read_all(pool, targets(plant.port))
            assert not any(o.error for o in got.values()), got
            with db.session() as session:
                facility.record(session, got.values(), hour + timedelta(minutes=minute))
            counter += 1000 * 5 / 60
    finally:
        pool.close()
    listed = [("grid", "utility", "power"), ("it", "it", "energy"), ("chiller", "cooling", "power")]
    with db.session() as session:
        # a job's record of 10:00 asks before the hour is closed: the samples give it
        assert facility.pue_of_hour(session, hour) == pytest.approx(1.3)
        closed = facility.close_hours(session, listed, hour + timedelta(hours=2, minutes=10))
    assert closed == 2
    with db.reader() as session:
        measured, gap = session.scalars(select(FacilityHourRow).order_by(FacilityHourRow.hour))
    assert measured.pue == pytest.approx(1.3) and measured.it_kw == pytest.approx(1000.0)
    assert measured.gap == "" and measured.facility_from == "utility"
    assert gap.pue is None and gap.gap == "missing"  # 11:00-12:00: one sample at 11:00 only
    assert sorted(gap.missing) == ["grid", "it"]  # with a utility meter, cooling is not needed

    running_replica(db, [(0, 1000)])  # one A100 from 09:20, energy estimated
    with db.session() as session:
        metering.meter(
            session,
            Meter(session, zone="Asia/Shanghai", power=POWER, samples=Measured(session)),
            hour + timedelta(hours=2),
        )
    with db.reader() as session:
        records = list(session.scalars(select(UsageRow).order_by(UsageRow.start)))
    assert [r.pue_method for r in records] == ["configured", "measured", "configured"]
    assert [r.pue for r in records] == pytest.approx([1.25, 1.3, 1.25])
    ten = records[1]  # 10:00-11:00
    # the same draw at the measured PUE: kWh in proportion to the PUE of the hour
    assert ten.energy_kwh / 1.3 == pytest.approx(records[2].energy_kwh / 1.25)

    with db.reader() as session:
        user = session.scalars(select(UserRow)).first()
        assert user is not None
        admin = Principal(user_id=user.id, name=user.name, org_id=user.org_id, role=Role(user.role))
        report = monthly(
            session, admin, month="2026-11", zone="Asia/Shanghai",
            default=PricePlan(name="center"), agreement=Agreement(), power=POWER,
            now=hour + timedelta(hours=3),
        )  # fmt: skip
        status = facility.status(
            session, admin, [("grid", "utility")], hour + timedelta(hours=3), 24, POWER.pue_at
        )
    energy = report.energy
    assert energy.meters_pue == pytest.approx(1.3) and energy.meters_hours == 1
    assert energy.meters_gap_hours > 1  # the gap, and the month's hours before the meters
    assert energy.configured_pue == pytest.approx(1.25)
    assert energy.by_pue_method["measured"] == pytest.approx(ten.energy_kwh)
    assert [h.pue for h in status.hours][-2:] == [None, pytest.approx(1.3)]  # newest first
    assert status.hours[-1].configured_pue == 1.25 and status.gap_hours == 1


def test_a_live_server_shows_the_meters_to_operators_only(
    tmp_path: Path, plant: modbus.Plant
) -> None:
    plant.set(1, GRID, 1312.5)
    plant.set(2, IT, 987654.321)
    plant.set(3, CHILLER, 187.4)
    meters = [
        {"name": "grid", "role": "utility", "host": "127.0.0.1", "port": plant.port,
         "unit_id": 1, "interval_s": 1, "registers": {"address": 3059, "type": "float32"}},
        {"name": "it", "role": "it", "host": "127.0.0.1", "port": plant.port, "unit_id": 2,
         "interval_s": 1, "registers": {"address": 100, "count": 2, "type": "uint32",
                                        "word_order": "little", "unit": "Wh", "table": "input"}},
    ]  # fmt: skip
    with over_http(tmp_path / "home", None, meters=meters) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        def pue() -> dict[str, Any]:
            answer = admin.get("/api/v1/kpis/pue", params={"hours": 6})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        def read() -> dict[str, Any] | None:
            found = pue()
            return found if all(m["read_at"] for m in found["meters"]) else None

        found = until(read)
        by_name = {m["name"]: m for m in found["meters"]}
        assert by_name["grid"]["kw"] == pytest.approx(1312.5) and by_name["grid"]["error"] == ""
        assert by_name["it"]["kwh"] == pytest.approx(987654.321, abs=0.001)
        assert found["configured_pue"] == 1.3 and found["hours_asked"] == 6
        metrics = admin.get("/metrics").text
        assert 'aicc_facility_meter_watts{meter="grid",role="utility"} 1.3125e+06' in metrics
        assert 'aicc_facility_pue{method="configured"} 1.3' in metrics
        browser = httpx.Client(
            base_url=url, timeout=30
        )  # the operator's dashboard, signed in by token
        browser.get("/sign-in")
        form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": token}
        assert browser.post("/sign-in", data=form).status_code == 303
        page = browser.get("/center", headers={"Accept-Language": "en"})
        assert page.status_code == 200, page.text
        assert "Facility meters and measured PUE" in page.text and "1,312.5 kW" in page.text
        assert "Utility feed" in page.text and "No hour closed yet" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"csrf": csrf.group(1), "language": "zh-CN", "next": "/"}
        assert browser.post("/language", data=form).status_code == 303
        zh = browser.get("/center")
        assert "设施电表与实测 PUE" in zh.text and "市电总进线" in zh.text
        other = make_tenant(admin, "tenant-b")
        hidden = admin.get("/api/v1/kpis/pue", headers=other.headers)
        assert hidden.status_code == 403
        bad = admin.get("/api/v1/kpis/pue", params={"hours": 0})
        assert bad.status_code == 422 and "hours" in bad.text
