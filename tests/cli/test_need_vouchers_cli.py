"""`aicc need create --voucher` and `aicc challenge create --subsidy-voucher` against a real
server over HTTP (issue 41): the reward is held from the poster's voucher (the need says so, the
voucher shows less left), a reward more than is left is one line saying how much is, and a team
that joins sees the training subsidy it received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.datasets import push
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def test_a_need_and_a_challenge_paid_from_a_voucher(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, _state):
        poster = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            team_t = make_tenant(http, "cli-team")
            org = http.get("/api/v1/me").json()["org"]
            body = {"org_id": org["id"], "name": "city", "amount": "1000"}
            voucher = http.post("/api/v1/vouchers", json=body).json()["id"]
            answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
            push(http, "answers", {"test.csv": answers.encode()})
        team = {**poster, "AICC_TOKEN": team_t.token}

        def run(env: dict[str, str], *args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        need = [
            "need", "create", "flood", "--title", "Floods?", "--problem", "Warn of floods.",
            "--metric", "accuracy", "--deadline", "+7d", "--reward", "600", "--voucher", voucher,
        ]  # fmt: skip
        made = run(poster, *need, "--json")
        assert made.exit_code == 0, made.output
        assert json.loads(made.stdout)["voucher"] == voucher
        shown = run(poster, "need", "get", "flood")
        assert f"voucher {voucher}" in shown.stdout, shown.output
        left = run(poster, "admin", "voucher", "list", "--json")
        assert [v["remaining"] for v in json.loads(left.stdout)["items"]] == ["400.00"]
        again = run(poster, *need[:2], "storm", *need[3:])
        assert again.exit_code == 1
        assert f"{voucher} has 400.00 CNY left, less than 600.00" in again.stderr

        subsidy = ["--subsidy-voucher", voucher, "--subsidy-per-team", "150"]
        hidden = ["--hidden", "answers@1", "--target", "answer", *subsidy]
        created = run(poster, "challenge", "create", "flood", *hidden, "--json")
        assert created.exit_code == 0, created.output
        cid = json.loads(created.stdout)["id"]
        assert f"150.00 a team from {voucher}" in run(poster, "challenge", "get", cid).stdout
        joined = run(team, "challenge", "join", cid, "--team", "wet", "--json")
        assert joined.exit_code == 0, joined.output
        got = json.loads(joined.stdout)
        assert got["subsidy_state"] == "given" and got["subsidy"] == "150.00"
        assert got["subsidy_voucher"] in run(team, "admin", "voucher", "list").stdout
