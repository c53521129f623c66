"""`aicc key create|list|rm` against a real server over HTTP: the secret printed once, scoped
keys, tables and `--json`; a removed key is refused by the gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http


def test_keys_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(*args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        made = run("key", "create", "chatbot", "--rpm", "60", "--tokens-per-month", "1000000")
        assert made.exit_code == 0, made.output
        secret = made.stdout.strip()
        assert secret.startswith("aicc-sk-") and "will not be shown again" in made.stderr
        unknown = run("key", "create", "scoped", "--deployment", "nope")
        assert unknown.exit_code == 1 and "no deployment 'nope'" in unknown.stderr
        again = run("key", "create", "chatbot")
        assert again.exit_code == 1 and "already exists" in again.stderr
        assert run("key", "create", "gold", "--tier", "1").exit_code == 0  # the admin's to give
        assert run("key", "create", "odd", "--tier", "4").exit_code == 2

        table = run("key", "list").stdout
        row = next(line for line in table.splitlines() if "chatbot" in line)
        assert "all" in row and "1,000,000" in row and secret not in table
        listed = json.loads(run("key", "list", "--json").stdout)["items"]
        assert [(k["name"], k["rpm"], k["deployments"], k["tier"]) for k in listed] == [
            ("chatbot", 60, None, 2),
            ("gold", None, None, 1),
        ]
        assert "TIER" in table
        run("key", "rm", "gold")
        assert "secret" not in listed[0] or listed[0]["secret"] is None

        models = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert models.status_code == 200 and models.json() == {"object": "list", "data": []}
        gone = run("key", "rm", "chatbot")
        assert gone.exit_code == 0 and "revoked API key chatbot" in gone.stderr
        refused = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
        assert json.loads(run("key", "list", "--json").stdout)["items"] == []
        revoked = json.loads(run("key", "list", "--revoked", "--json").stdout)["items"]
        assert revoked[0]["revoked_at"] is not None
