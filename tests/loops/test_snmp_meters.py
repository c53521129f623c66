"""SNMP facility meters against a real SNMP agent (snmpsim's command responder, started on a
free localhost UDP port by aicc/testing/snmp.py) read through the real client (pysnmp) on the
same `Pool` as Modbus meters: a PDU's watts, a Wh counter and a decimal string decoded; a
missing OID, a wrong community and a dead port each an error within the meter's timeout while
the others are read; and the readings making an hour's measured PUE like a Modbus meter's
(issue 62)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from billing_support import T0, fresh_store
from sqlalchemy import select

from aicc.config import MeterSettings
from aicc.core.meters import Oid, Outcome, Target
from aicc.executors.meters import Pool
from aicc.loops.meters import Meters, target
from aicc.services.billing import facility
from aicc.store.db import Database
from aicc.store.tables.billing import FacilityHourRow

pytest.importorskip("pysnmp")
pytest.importorskip("snmpsim")
from aicc.testing import snmp

COMMUNITY = "pdu-ro"
WATTS = Oid("1.3.6.1.4.1.318.1.1.12.1.16.0", unit="W")  # APC rPDU total active power, W
ENERGY = Oid("1.3.6.1.4.1.318.1.1.26.4.3.1.9.1", unit="Wh", scale=100)  # hundredths of a kWh
GRID = Oid("1.3.6.1.4.1.9999.1.1.0", type="string", unit="kW")  # a gateway's decimal text
MISSING = Oid("1.3.6.1.4.1.318.1.1.12.1.17.0")


@pytest.fixture(scope="module")
def agent() -> Iterator[snmp.Agent]:
    found = snmp.Agent(
        {
            WATTS.oid: (66, "1000000"),  # Gauge32: 1 MW of IT load
            ENERGY.oid: (70, "98765432"),  # Counter64
            GRID.oid: (4, "1300.5"),  # OCTET STRING
        },
        community=COMMUNITY,
    )
    try:
        yield found.start()
    finally:
        found.stop()


def snmp_target(name: str, role: str, port: int, oid: Oid, **changes: object) -> Target:
    # an agent that answers is given 10 s: snmpsim answers in one Python thread, slowly on a
    # loaded runner; the silent ones keep 1 s, which is what "delays no other" is about
    fields: dict[str, object] = {"timeout_s": 10.0, "community": COMMUNITY, **changes}
    return Target(name, role, "127.0.0.1", port, 0, oid, **fields)  # type: ignore[arg-type]


def collect(pool: Pool, count: int, timeout: float = 60.0) -> dict[str, Outcome]:
    got: dict[str, Outcome] = {}
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {sorted(got)} within {timeout} s"
        got.update({o.meter: o for o in pool.done()})
        time.sleep(0.05)
    return got


def test_oids_read_and_a_silent_agent_delays_no_other(agent: snmp.Agent) -> None:
    dead = snmp.free_udp_port()  # nothing listens: the request is never answered
    pool = Pool(workers=6)
    try:
        wanted = [
            snmp_target("pdu", "it", agent.port, WATTS),
            snmp_target("pdu-energy", "it", agent.port, ENERGY),
            snmp_target("grid", "utility", agent.port, GRID),
            snmp_target("missing", "it", agent.port, MISSING),
            snmp_target("wrong", "it", agent.port, WATTS, community="private", timeout_s=1.0),
            snmp_target("dead", "it", dead, WATTS, timeout_s=1.0),
        ]
        assert "pdu-ro" not in repr(wanted[0])  # the community is a secret
        assert pool.submit(wanted) == 6
        got = collect(pool, 6)
    finally:
        pool.close()
    assert got["pdu"].kw == pytest.approx(1000.0) and got["pdu"].kwh is None, got
    assert got["pdu-energy"].kwh == pytest.approx(9876543.2)  # hundredths of kWh, in Wh units
    assert got["grid"].kw == pytest.approx(1300.5) and not got["grid"].error
    assert "no 1.3.6.1.4.1.318.1.1.12.1.17.0 (NoSuchInstance)" in got["missing"].error
    for silent in ("wrong", "dead"):
        assert got[silent].kw is None and got[silent].kwh is None
        assert "no SNMP answer" in got[silent].error and "in 1 s" in got[silent].error
        assert "community" in got[silent].error  # what to check


def test_a_wrong_type_is_named() -> None:
    from aicc.core.meters import OidError, decode_oid

    with pytest.raises(OidError, match=r"set `oid\.type: string`"):
        decode_oid("12.5", WATTS)
    with pytest.raises(OidError, match="not a number"):
        decode_oid("n/a", GRID)
    assert decode_oid(" 12.5 ", GRID) == pytest.approx(12.5)


def test_a_configured_snmp_meter_is_read(agent: snmp.Agent) -> None:
    meter = MeterSettings.model_validate(
        {"name": "pdu", "role": "it", "protocol": "snmp", "host": "127.0.0.1",
         "port": agent.port, "community": COMMUNITY, "timeout_s": 10,
         "oid": {"oid": "." + WATTS.oid, "unit": "W"}}
    )  # fmt: skip
    found = target(meter)
    assert found.protocol == "snmp" and found.register == WATTS
    step = Meters([meter])  # the loop step, as the controller builds it
    try:
        assert step.listed == [("pdu", "it", "power")]
        step.start()  # returns at once: the read runs on the step's pool
        assert step.pool.busy("pdu")
        assert collect(step.pool, 1)["pdu"].kw == pytest.approx(1000.0)
    finally:
        step.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    yield from fresh_store(tmp_path, None)


def test_an_hours_measured_pue_from_snmp_meters(agent: snmp.Agent, db: Database) -> None:
    hour = T0.replace(minute=0) + timedelta(hours=1)
    wanted = [
        snmp_target("grid", "utility", agent.port, GRID),
        snmp_target("pdu", "it", agent.port, WATTS),
    ]
    pool = Pool(workers=2)
    try:
        for minute in range(0, 61, 5):  # 10:00-11:00 read every 5 minutes
            pool.submit(wanted)
            got = collect(pool, 2)
            assert not any(o.error for o in got.values()), got
            with db.session() as session:
                facility.record(session, got.values(), hour + timedelta(minutes=minute))
    finally:
        pool.close()
    listed = [("grid", "utility", "power"), ("pdu", "it", "power")]
    with db.session() as session:
        assert facility.pue_of_hour(session, hour) == pytest.approx(1.3005)
        assert facility.close_hours(session, listed, hour + timedelta(hours=1, minutes=10)) == 1
    with db.reader() as session:
        row = session.scalars(select(FacilityHourRow)).one()
    assert row.pue == pytest.approx(1.3005) and row.it_kw == pytest.approx(1000.0)
    assert row.gap == "" and row.facility_from == "utility"
