"""Nodes' BMCs end to end against a real Redfish emulator (sushy-tools' sushy-static, started
on 127.0.0.1 by aicc/testing/redfish.py) through the real client (sushy): a BMC named, its
power sampled and shown by `aicc node show`, a power limit written to the BMC and lifted, a
Critical health cordoning the node with the reason and OK uncordoning it (never an operator's
cordon), another tenant never seeing the credentials, and a hung BMC delaying no other."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from portal_support import csrf_of, sign_in_with_token
from sqlalchemy import select
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.core.redfish import Target
from aicc.executors.bmc import Pool
from aicc.store.tables.nodes import NodeBmcRow, NodeRow
from aicc.testing import redfish
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

pytest.importorskip("sushy")
pytest.importorskip("sushy_tools")
SECRET = "s3cret-bmc-password"


@pytest.fixture
def emulator() -> Iterator[redfish.Emulator]:
    found = redfish.start_emulator()
    try:
        yield found
    finally:
        found.stop()


def due_now(state: Any, node: str) -> None:
    """The node's BMC is due to be read at the step's next look (within a second), as if its
    interval (5 s, the least allowed) had passed: a test of what a reading brings need not
    wait the interval out each time."""
    with state.db.session() as session:
        node_id = session.scalars(select(NodeRow.id).where(NodeRow.name == node)).one()
        row = session.get(NodeBmcRow, node_id)
        assert row is not None
        row.read_at = row.error_at = None


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def test_a_bmc_sampled_limited_and_cordoning(tmp_path: Path, emulator: redfish.Emulator) -> None:
    with over_http(tmp_path / "home", None) as (url, token, state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        node = admin.get("/api/v1/nodes").json()["items"][0]["name"]

        def read(check: Callable[[], Any]) -> Any:
            """`until(check)`, the BMC read meanwhile at the step's pace (every second)."""
            return until(lambda: due_now(state, node) or check())

        body = {"address": emulator.address, "username": "root", "password": SECRET}
        bmc = admin.put(f"/api/v1/nodes/{node}/bmc", json={**body, "interval_s": 5})
        assert bmc.status_code == 200, bmc.text
        assert bmc.json()["address"] == emulator.address and SECRET not in bmc.text

        def node_bmc() -> dict[str, Any]:
            return admin.get(f"/api/v1/nodes/{node}").json()["bmc"] or {}

        said = until(lambda: node_bmc().get("watts") == 344.0 and node_bmc())
        assert said["health"] == "OK" and said["model"] == "3500RX"
        assert said["serial_number"] == "437XR1138R2" and said["limit_supported"]
        assert said["temperatures"]["Inlet Temp"] == 24.5
        # the samples accumulate, with the limit the BMC says is in force, into the curve
        redfish.set_power(emulator.mockup, 420.0, limit_w=600.0)

        def curve() -> dict[str, Any]:
            found: dict[str, Any] = admin.get(f"/api/v1/nodes/{node}/power?hours=1").json()
            return found

        power = read(lambda: (c := curve())["now_w"] == 420.0 and c)
        assert power["source"] == "bmc" and power["sources"] == ["bmc"]
        assert power["samples"] >= 2 and power["max_w"] == 420.0 and power["limit_w"] == 600.0
        assert power["bucket_s"] == 12 and 0 < power["kwh"] < 0.42
        buckets = power["buckets"]
        assert buckets[0]["min_w"] == 344.0 and buckets[-1]["max_w"] == 420.0
        assert buckets[-1]["limit_w"] == 600.0

        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        shown = CliRunner().invoke(app, ["node", "show", node], env=env)
        assert shown.exit_code == 0, shown.output
        for text in ("BMC HEALTH", "OK", "420 W", "3500RX", "437XR1138R2", "P79 v1.33"):
            assert text in shown.output
        assert "POWER 6 H" in shown.output and "now 420 W" in shown.output
        assert "CURVE 6 H" in shown.output and any(c in shown.output for c in "▁▂▃▄▅▆▇█")
        assert "344 W .. 420 W" in shown.output
        assert SECRET not in shown.output
        listed = CliRunner().invoke(app, ["node", "power", node, "--hours", "1"], env=env)
        assert listed.exit_code == 0, listed.output
        assert "AVG W" in listed.output and "LIMIT W" in listed.output and "600" in listed.output
        assert "BUCKET" in listed.output and "12 s" in listed.output
        as_json = CliRunner().invoke(app, ["node", "power", node, "--json"], env=env)
        assert json.loads(as_json.output)["source"] == "bmc"
        none = CliRunner().invoke(app, ["node", "power", "no-such-node"], env=env)
        assert none.exit_code != 0 and "no-such-node" in none.output
        assert admin.get(f"/api/v1/nodes/{node}/power?hours=0").status_code == 422

        # the node's page: the curve as a chart (its data in data-chart), the limit a line
        with httpx.Client(base_url=url, timeout=30) as browser:
            assert sign_in_with_token(browser, token).status_code == 303
            for lang, words in (("en", "Power limit"), ("zh-CN", "功率上限")):
                chosen = {"csrf": csrf_of(browser), "language": lang}
                assert browser.post("/language", data=chosen).status_code in (200, 303)
                page = browser.get(f"/nodes/{node}?hours=1")
                assert page.status_code == 200 and words in page.text
                chart = json.loads(
                    html.unescape(
                        page.text.split('id="power-chart"')[1].split("data-chart='")[1]
                    ).split("'")[0]
                )
                assert chart["type"] == "lines" and len(chart["series"]) == 3
                assert chart["series"][2]["values"][-1] == 600.0
            assert browser.get("/nodes/no-such-node").status_code == 404

        # another tenant, and a member, see the status but never where the BMC is nor who
        # signs in, and get no BMC route at all
        other = make_tenant(admin, "tenant-b")
        for answer in (
            admin.get("/api/v1/nodes", headers=other.headers),
            admin.get(f"/api/v1/nodes/{node}", headers=other.headers),
        ):
            assert answer.status_code == 200
            assert SECRET not in answer.text and emulator.address not in answer.text
            assert '"root"' not in answer.text
        hidden = admin.get(f"/api/v1/nodes/{node}/bmc", headers=other.headers)
        assert hidden.status_code == 403 and emulator.address not in hidden.text

        # a power limit written to the BMC's PowerControl, read back from the emulator, lifted
        limited = admin.put(f"/api/v1/nodes/{node}/power-limit", json={"watts": "500W"})
        assert limited.status_code == 200 and limited.json()["status"]["limit_w"] == 500
        power_path = "/redfish/v1/Chassis/1U/Power"
        until(
            lambda: any(b == redfish_limit(500) for p, b in emulator.patches() if p == power_path)
        )
        until(lambda: admin.get(f"/api/v1/nodes/{node}/bmc").json()["status"]["limit_applied_w"])
        lifted = CliRunner().invoke(app, ["node", "power-limit", node, "--clear"], env=env)
        assert lifted.exit_code == 0 and "lifted" in lifted.output
        until(lambda: emulator.patches()[-1][1] == redfish_limit(None))
        bad = admin.put(f"/api/v1/nodes/{node}/power-limit", json={"watts": "a lot"})
        assert bad.status_code == 422

        # Critical: cordoned with the reason; OK again: back in service
        redfish.set_health(emulator.mockup, "Critical")
        cordoned = read(
            lambda: (n := admin.get(f"/api/v1/nodes/{node}").json())["state"] == "cordoned" and n
        )
        assert cordoned["state_reason"] == "BMC reports health Critical"
        assert cordoned["bmc"]["cordoned"] is True
        redfish.set_health(emulator.mockup, "OK")
        read(lambda: admin.get(f"/api/v1/nodes/{node}").json()["state"] == "ready")

        # an operator's cordon outlives the BMC's OK
        assert admin.post(f"/api/v1/nodes/{node}/cordon").status_code == 200
        # each reading is stored with the state change it brings, in one transaction: once the
        # node shows the BMC's health, the step has decided on it
        redfish.set_health(emulator.mockup, "Critical")
        read(lambda: node_bmc().get("health") == "Critical")
        found = admin.get(f"/api/v1/nodes/{node}").json()
        assert found["state"] == "cordoned" and found["state_reason"] == "cordoned by an operator"
        redfish.set_health(emulator.mockup, "OK")
        read(lambda: node_bmc().get("health") == "OK")
        found = admin.get(f"/api/v1/nodes/{node}").json()
        assert found["state"] == "cordoned" and found["state_reason"] == "cordoned by an operator"


def redfish_limit(watts: float | None) -> dict[str, Any]:
    from aicc.core.redfish import limit_patch

    found: dict[str, Any] = json.loads(json.dumps(limit_patch(watts)))
    return found


def test_a_hung_bmc_delays_no_other(emulator: redfish.Emulator) -> None:
    silent = redfish.Silent()
    pool = Pool(workers=4, timeout_s=3.0)
    try:
        started = time.monotonic()
        pool.submit([Target("hung", silent.address), Target("fine", emulator.address)])
        fine = until(lambda: [o for o in pool.done() if o.node_id == "fine"], timeout=10)
        took = time.monotonic() - started
        assert fine[0].reading is not None and fine[0].reading.watts == 344.0
        assert took < 3.0  # read while the hung one still waits for its timeout
        assert pool.busy("hung")
        hung = until(lambda: [o for o in pool.done() if o.node_id == "hung"], timeout=10)
        assert hung[0].reading is None and "Error" in hung[0].error
        assert time.monotonic() - started < 3.0 + 2.0  # its one timeout, no retries
    finally:
        pool.close()
        silent.close()


def test_bad_bmc_input_is_a_clear_422(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", None, loops=False) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        node = admin.get("/api/v1/nodes").json()["items"][0]["name"]
        for address in ("ftp://x", "https://u:p@bmc", "https://bmc/redfish/v1", "not a url", ""):
            answer = admin.put(f"/api/v1/nodes/{node}/bmc", json={"address": address})
            assert answer.status_code == 422, (address, answer.text)
        answer = admin.put("/api/v1/nodes/nope/bmc", json={"address": "https://bmc"})
        assert answer.status_code == 404
        answer = admin.put(f"/api/v1/nodes/{node}/power-limit", json={"watts": 100})
        assert answer.status_code == 404  # no BMC named yet
