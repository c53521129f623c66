"""What the OpenADR VEN reports as the site's power (services/center/power.py
`Site.measured_kw`): the facility meters' fresh kW first (`utility`, else `it` plus `cooling`),
else the nodes' fresh BMC samples times the PUE, else the power model's estimate; stale
readings and failed reads do not count. And the kW an OpenADR event asks for now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from billing_support import T0, fresh_store

from aicc.core.meters import Outcome
from aicc.core.openadr import Window
from aicc.services.billing import facility
from aicc.services.center import power
from aicc.services.common import new_id
from aicc.services.telemetry import samples
from aicc.store.db import Database
from aicc.store.tables.nodes import NodeRow


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    yield from fresh_store(tmp_path_factory.mktemp("measured"), None)


def test_bmcs_then_meters_then_utility_and_stale_readings_do_not_count(db: Database) -> None:
    site = power.Site(pue=1.5)
    with db.session() as session:
        assert site.measured_kw(session, T0) == (0.0, "estimate")  # no nodes, no readings
        node = NodeRow(
            id=new_id("node"), name="n1", cpu_milli=8000, memory_mib=65536, created_at=T0
        )
        session.add(node)
        session.flush()
        samples.record_power(session, T0 - timedelta(hours=1), [(node.id, 9000.0, "bmc", None)])
        samples.record_power(session, T0, [(node.id, 400.0, "rapl", None)])  # CPUs alone
        assert site.measured_kw(session, T0)[1] == "estimate"
        samples.record_power(session, T0 - timedelta(minutes=1), [(node.id, 800.0, "bmc", None)])
        samples.record_power(session, T0, [(node.id, 1000.0, "bmc", None)])
        assert site.measured_kw(session, T0) == (1000.0 * 1.5 / 1000, "node BMCs")  # the latest
        facility.record(
            session,
            [
                Outcome("it-1", "it", kw=40.0),
                Outcome("chill", "cooling", kw=12.0),
                Outcome("grid", "utility", error="timed out"),
            ],
            T0,
        )
        assert site.measured_kw(session, T0) == (52.0, "facility meters")
        facility.record(session, [Outcome("grid", "utility", kw=60.0)], T0)
        assert site.measured_kw(session, T0) == (60.0, "facility meters")
        later = T0 + timedelta(minutes=10)
        assert site.measured_kw(session, later)[1] == "estimate"  # all of it stale by then


def test_the_kw_an_openadr_event_asks_for_now(db: Database) -> None:
    with db.session() as session:
        assert power.asked_kw(session, T0) is None
        windows = [
            Window(T0, T0 + timedelta(hours=1), 500.0),
            Window(T0 + timedelta(minutes=30), T0 + timedelta(hours=1), 300.0),
        ]
        power.demand_response(session, "dr-1", windows, T0)
        assert power.asked_kw(session, T0) == 500.0
        assert power.asked_kw(session, T0 + timedelta(minutes=45)) == 300.0  # the lowest
        assert power.asked_kw(session, T0 + timedelta(hours=1)) is None
