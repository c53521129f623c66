"""A lease's SLA report and bill (issue 40, docs/operations.md: SLA reports): last month, two
leased nodes of two devices each go through a scripted outage, an operator's cordon, an
unhealthy device and an announced maintenance window, each written by the real code paths that
make them (with explicit times: no test waits real minutes). The report's availability and the
credit on the issued invoice match the script to the minute; another organization gets a 404;
`aicc lease report --json` prints the API's JSON. And `lease.ending` reaches the lessee a day
before a lease ends. One server (the API over HTTP, loops off) for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.core import periods
from aicc.core.tenancy import Principal, Role
from aicc.core.topology import NodeState
from aicc.loops import maintenance as maintenance_loop
from aicc.server import ServerState
from aicc.services.common import utcnow
from aicc.services.leases import leases
from aicc.services.nodes import maintenance, nodes
from aicc.store.tables.nodes import NodeRow
from aicc.store.tables.notify import NotifyEventRow
from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

PRICE = Decimal("10.00")  # per A100 device-hour
INVENTORY = {
    "nodes": [
        {
            "name": f"sla-{i}",
            "cpu": 4,
            "memory": "8GiB",
            "pool": "sla",
            "devices": [{"model": "A100-80GB", "count": 2, "simulated": True}],
        }
        for i in (1, 2, 3)  # sla-3: the jobs' test
    ]
}
ADMIN = Principal(user_id="", name="system", org_id="", role=Role.ADMIN)


class Center:
    def __init__(self, url: str, token: str, state: ServerState, http: httpx.Client) -> None:
        self.url, self.token, self.state, self.http = url, token, state, http


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    home = tmp_path_factory.mktemp("sla") / "home"
    pricing = {"name": "center", "accelerator_hour": {"A100-80GB": str(PRICE)}}
    with (
        over_http(home, loops=False, pricing=pricing) as (url, token, state),
        httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as http,
    ):
        assert http.post("/api/v1/nodes/import", json=INVENTORY).status_code == 200
        yield Center(url, token, state, http)


def _node_row(session: Any, name: str) -> NodeRow:
    row = session.query(NodeRow).filter_by(name=name).one()
    assert isinstance(row, NodeRow)
    return row


def _script(c: Center, lessee: Tenant, first: datetime, last: datetime) -> str:
    """Lease both nodes for the month and play its incidents; the lease's id."""
    domain = {n.name: n for n in nodes.inventory_nodes(nodes.Inventory.model_validate(INVENTORY))}
    day = timedelta(days=1)
    with c.state.db.session() as s:
        ask = leases.Ask(
            org=lessee.org_id, starts_at=first, ends_at=last, nodes=["sla-1", "sla-2"], tier=99.9
        )
        lease = leases.create(s, ADMIN, ask, now=first - day)
        # sla-1 lost by its engine at 10:00:30 on day 3, back at 13:00:30: minutes 10:00-13:00
        down_at = first + 2 * day + timedelta(hours=10, seconds=30)
        nodes.mark_down(s, _node_row(s, "sla-1"), "heartbeat lost", at=down_at)
        nodes.register(s, domain["sla-1"], now=down_at + timedelta(hours=3))
        # sla-2 cordoned by an operator for exactly 10 minutes on day 5
        cordon = first + 4 * day + timedelta(hours=8)
        nodes.set_state(s, ADMIN, "sla-2", NodeState.CORDONED, "disk errors", used={}, now=cordon)
        nodes.set_state(
            s, ADMIN, "sla-2", NodeState.READY, used={}, now=cordon + timedelta(minutes=10)
        )
        # sla-2's device 1 unhealthy for 20 minutes on day 7
        sick = first + 6 * day + timedelta(hours=2)
        node = domain["sla-2"]
        bad = replace(node, devices=(node.devices[0], replace(node.devices[1], healthy=False)))
        nodes.register(s, bad, now=sick)
        nodes.register(s, node, now=sick + timedelta(minutes=20))
        # an hour of maintenance on sla-2, announced two days ahead: excluded, not lost
        starts = first + 9 * day
        window = maintenance.create(
            s, ADMIN, nodes=["sla-2"], starts_at=starts, ends_at=starts + timedelta(hours=1),
            reason="firmware", now=starts - 2 * day,
        )  # fmt: skip
        maintenance.start(s, window.id, now=starts)
        maintenance.end(s, window.id, now=starts + timedelta(hours=1), burn_in=False)
        return lease.id


def test_an_sla_report_and_its_credit_match_a_scripted_outage_to_the_minute(
    center: Center,
) -> None:
    c = center
    lessee, other = make_tenant(c.http, "sla-lessee"), make_tenant(c.http, "sla-other")
    zone = c.state.settings.site.timezone
    month = periods.month_of(periods.month_bounds(periods.month_of(utcnow(), zone), zone)[0]
                             - timedelta(days=1), zone)  # fmt: skip
    first, last = periods.month_bounds(month, zone)
    lease_id = _script(c, lessee, first, last)
    minutes = int((last - first).total_seconds()) // 60
    leased = 4 * minutes - 2 * 60  # the announced hour of sla-2's two devices is excluded
    lost = 2 * 181 + 2 * 10 + 20  # 10:00..13:00 touched on 2 devices, a cordon, a sick device
    pct = (Decimal(leased - lost) * 100 / leased).quantize(Decimal("0.0001"), ROUND_DOWN)
    assert pct < Decimal("99.9")  # below the tier: 10% of the month's charge
    charge = (Decimal(4) * Decimal(minutes) / 60 * PRICE).quantize(Decimal("0.01"))
    credit = (charge / 10).quantize(Decimal("0.01"), ROUND_HALF_UP)

    answer = c.http.get(f"/api/v1/leases/{lease_id}/report", params={"month": month},
                        headers=lessee.headers)  # fmt: skip
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["leased_device_minutes"], report["lost_device_minutes"]) == (leased, lost)
    assert report["excluded_device_minutes"] == 120 and report["final"] is True
    assert round(report["availability_pct"], 4) == float(pct)
    assert (report["charge"], report["credit"], report["credit_pct"]) == (
        str(charge), str(credit), 10.0
    )  # fmt: skip
    seen = [(i["node"], i["devices"], i["minutes"], i["state"]) for i in report["incidents"]]
    assert seen == [
        ("sla-1", [0, 1], 181, "down"),
        ("sla-2", [0, 1], 10, "cordoned"),
        ("sla-2", [1], 20, "unhealthy"),
        ("sla-2", [0, 1], 0, "maintenance"),
    ]
    assert "heartbeat lost" in report["incidents"][0]["reason"]
    assert [w["reason"] for w in report["maintenance"]] == ["firmware"]

    hidden = c.http.get(f"/api/v1/leases/{lease_id}/report", headers=other.headers)
    assert hidden.status_code == 404 and "not found" in hidden.json()["detail"]
    bad = c.http.get(f"/api/v1/leases/{lease_id}/report", params={"month": "2026-13"})
    assert bad.status_code == 422 and "YYYY-MM" in bad.text

    issued = c.http.post("/api/v1/bills/issue", json={"org_id": lessee.org_id, "month": month})
    assert issued.status_code == 200, issued.text
    lines = {line["kind"]: line for line in issued.json()["lines"]}
    assert lines["lease"]["net"] == str(charge) and lines["lease"]["lease_id"] == lease_id
    assert lines["lease_credit"]["net"] == str(-credit)
    assert issued.json()["totals"]["net"] == str(charge - credit)

    env = {"AICC_SERVER": c.url, "AICC_TOKEN": lessee.token,
           "COLUMNS": "200"}  # fmt: skip
    shown = CliRunner().invoke(app, ["lease", "report", lease_id, "--month", month, "--json"],
                               env=env)  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == report
    table = CliRunner().invoke(app, ["lease", "report", lease_id, "--month", month], env=env)
    assert f"{pct}% (tier 99.9%)" in table.stdout and "heartbeat lost" in table.stdout


def test_the_lessee_hears_a_day_before_its_lease_ends(center: Center) -> None:
    c = center
    lessee = make_tenant(c.http, "sla-ending")
    now = utcnow()
    with c.state.db.session() as s:
        ask = leases.Ask(
            org=lessee.org_id, starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=20), devices=1, pool="sla",
        )  # fmt: skip
        lease = leases.create(s, ADMIN, ask, now=now)
    fence = c.state.controller.lease
    assert fence.try_acquire(now)
    told: set[str] = set()
    maintenance_loop.step(c.state.db, fence, now, burn_in=False, told=told)  # marks it active
    assert lease.id not in told
    maintenance_loop.step(c.state.db, fence, now, burn_in=False, told=told)  # the next pass
    assert lease.id in told
    maintenance_loop.step(c.state.db, fence, now, burn_in=False, told=told)  # told once
    with c.state.db.reader() as s:
        kinds = [
            e.kind
            for e in s.query(NotifyEventRow).filter_by(org_id=lessee.org_id)
            if e.data.get("lease") == lease.id
        ]
    assert sorted(kinds) == ["lease.ending", "lease.started"]


def test_the_lessees_own_jobs_on_its_lease_are_covered_and_the_lease_is_charged(
    center: Center,
) -> None:
    c = center
    lessee = make_tenant(c.http, "sla-jobs")
    now = utcnow()
    zone = c.state.settings.site.timezone
    month = periods.month_of(now, zone)
    ask = {"org": "sla-jobs", "nodes": ["sla-3"], "from": (now - timedelta(minutes=1)).isoformat(),
           "to": (now + timedelta(days=2)).isoformat()}  # fmt: skip
    made = c.http.post("/api/v1/leases", json=ask)
    assert made.status_code == 201, made.text
    for other in ("sla-1", "sla-2"):  # the job can only go to the lease
        assert c.http.post(f"/api/v1/nodes/{other}/cordon").status_code == 200
    c.state.controller.start()
    try:
        spec = {"command": "true", "resources": {"accelerator": {"model": "A100-80GB", "count": 1}}}
        job = submit(c.http, spec, **lessee.headers)
        done = wait_state(c.http, job["id"], {"succeeded", "failed"})
        assert done["state"] == "succeeded" and done["replicas"][0]["node"] == "sla-3"
        bill = wait("the job's usage on the draft", lambda: _bill(c, lessee, month, job["id"]))
    finally:
        c.state.controller.stop()
    ran = [line for line in bill if line.get("job_id") == job["id"]]
    assert ran and all(line["net"] == "0.00" and Decimal(line["unit_price"]) == 0 for line in ran)
    assert {line["price_plan"] for line in ran} == {f"lease:{made.json()['id']}"}
    charged = [line for line in bill if line["kind"] == "lease"]
    assert [line["lease_id"] for line in charged] == [made.json()["id"]]
    assert Decimal(charged[0]["net"]) > 0
    with httpx.Client(
        timeout=60, base_url=c.url
    ) as browser:  # the portal's lease list shows this month
        browser.get("/sign-in")
        form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": lessee.token}
        assert browser.post("/sign-in", data=form).status_code in (200, 303)
        page = browser.get("/quotas").text
    assert "Availability this month" in page and "100.0000% (tier 99.9%)" in page


def _bill(c: Center, lessee: Tenant, month: str, job_id: str) -> list[dict[str, Any]] | None:
    """The lessee's draft lines once the job's usage is on them."""
    answer = c.http.get("/api/v1/bills", params={"month": month, "org": lessee.org_id})
    assert answer.status_code == 200, answer.text
    lines: list[dict[str, Any]] = answer.json()["lines"]
    return lines if any(line.get("job_id") == job_id for line in lines) else None
