"""`aicc maintenance create|list|get|cancel` and `aicc lease create|list|get|end` against a real
server over HTTP: `--json` is the API's JSON, tables name what matters, times may be relative
(`+2h`), and a bad request is one line saying what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

INVENTORY = {
    "nodes": [
        {
            "name": f"c-{i}",
            "cpu": 4,
            "memory": "8GiB",
            "pool": "cli",
            "devices": [{"model": "A100-80GB", "count": 2, "simulated": True}],
        }
        for i in (1, 2)
    ]
}


def test_maintenance_and_leases_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            assert http.post("/api/v1/nodes/import", json=INVENTORY).status_code == 200
            make_tenant(http, "cli-lessee")

        def run(*args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        window = ["--nodes", "c-1", "--from", "+1h", "--to", "+2h", "--reason", "disk swap"]
        made = run("maintenance", "create", *window, "--json")
        assert made.exit_code == 0, made.output
        created = json.loads(made.stdout)
        assert created["nodes"] == ["c-1"] and created["state"] == "scheduled"
        listed = json.loads(run("maintenance", "list", "--json").stdout)["items"]
        assert [w["id"] for w in listed] == [created["id"]]
        table = run("maintenance", "list").stdout
        assert "c-1" in table and "disk swap" in table and "scheduled" in table
        backwards = run("maintenance", "create", "--pool", "cli", "--from", "+2h", "--to", "+1h")
        assert backwards.exit_code != 0  # no reason given: typer says so
        bad = ["--pool", "cli", "--from", "+2h", "--to", "+1h", "--reason", "x"]
        refused = run("maintenance", "create", *bad)
        assert refused.exit_code == 1 and "to must be after from" in refused.stderr
        cancelled = run("maintenance", "cancel", created["id"])
        assert cancelled.exit_code == 0 and "cancelled" in cancelled.stderr

        ask = ["--org", "cli-lessee", "--nodes", "c-2", "--from", "now", "--to", "+30d"]
        leased = run("lease", "create", *ask, "--tier", "99.5", "--json")
        assert leased.exit_code == 0, leased.output
        lease = json.loads(leased.stdout)
        assert lease["nodes"] == ["c-2"] and lease["tier"] == 99.5 and lease["org"] == "cli-lessee"
        items = json.loads(run("lease", "list", "--json").stdout)["items"]
        assert [x["id"] for x in items] == [lease["id"]]
        shown = run("lease", "get", lease["id"])
        assert (
            shown.exit_code == 0
            and "c-2" in shown.stdout
            and "0 used / 0 lent / 2 idle" in (shown.stdout)
        )
        assert run("lease", "end", lease["id"]).exit_code == 0
        again = json.loads(run("lease", "get", lease["id"], "--json").stdout)
        assert again["state"] == "ended"
