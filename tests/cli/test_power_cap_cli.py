"""`aicc center power-cap set|list|clear` against a real server over HTTP: a cap for a window,
shown as a table and `--json`, cleared; bad input named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http


def test_power_cap_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False, site={"power_cap_kw": 500}) as (url, token, _):
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
