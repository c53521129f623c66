"""`aicc center power-cap set|list|clear|openadr` against a real server over HTTP: a cap for a
window, shown as a table and `--json`, cleared; bad input named; the OpenADR events the VEN
kept (services/center/demand.py), their answers and the shed reported."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.core import openadr
from aicc.services.center import demand, power
from aicc.services.common import utcnow
from aicc.testing.servers import over_http


def test_power_cap_from_the_cli(tmp_path: Path) -> None:
    site = {"power_cap_kw": 500}
    with over_http(tmp_path / "home", loops=False, site=site) as (url, token, state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(*args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        made = run("center", "power-cap", "set", "120kW", "--for", "2h", "--note", "grid", "--json")
        assert made.exit_code == 0, made.output
        event = json.loads(made.stdout)
        assert event["cap_kw"] == 120 and event["active"] and event["note"] == "grid"
        table = run("center", "power-cap", "list").stdout
        assert "120.0 kW" in table and "demand response until" in table and event["id"] in table
        shown = json.loads(run("center", "power-cap", "list", "--json").stdout)
        assert shown["cap_kw"] == 120 and shown["standing_cap_kw"] == 500
        bad = run("center", "power-cap", "set", "120kWh", "--for", "1h")
        assert bad.exit_code == 1 and "cap_kw" in bad.stderr and "120kW" in bad.stderr
        neither = run("center", "power-cap", "set", "120kW")
        assert neither.exit_code != 0 and "--until" in neither.stderr
        cleared = run("center", "power-cap", "clear")
        assert cleared.exit_code == 0 and event["id"] in cleared.stderr
        after = json.loads(run("center", "power-cap", "list", "--json").stdout)
        assert after["cap_kw"] == 500 and after["events"] == []

        assert "no OpenADR events received" in run("center", "power-cap", "openadr").output
        with state.db.session() as session:  # as the VEN keeps a LOAD_DISPATCH event
            now = utcnow()
            window = openadr.Window(now, now + timedelta(hours=1), 300.0)
            signal = openadr.Signal("LOAD_DISPATCH", "setpoint", window.start, window.end, 300.0)
            said = openadr.answer([window], floor_kw=20.0, opt_out=False)
            demand.received(
                session, event_id="vtn-ev-7", status="active", signals=[signal],
                windows=[window], answer=said, baseline_kw=420.0, now=now,
            )  # fmt: skip
            power.demand_response(session, "vtn-ev-7", [window], now)  # its cap, in force
            demand.reported(session, measured_kw=280.5, asked_kw=300.0, now=now)
        table = run("center", "power-cap", "openadr").stdout
        assert "vtn-ev-7" in table and "LOAD_DISPATCH" in table and "optIn" in table
        assert "300" in table and "280.5 kW" in table and "139.5 kW" in table  # the shed
        found = json.loads(run("center", "power-cap", "openadr", "--json").stdout)
        (one,) = found["items"]
        assert one["reason"] == "capped" and one["active"] and one["cap_kw"] == 300.0
        assert one["report"]["shed_kw"] == 139.5 and one["baseline_kw"] == 420.0
