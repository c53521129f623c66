"""`aicc user disable|enable|list` against a real server over HTTP: a disabled user's token
stops working at once, and works again once they are enabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http


def test_an_admin_disables_and_enables_a_user_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        admin = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(env: dict[str, str], *args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        def aicc(*args: str) -> Any:
            result = run(admin, *args)
            assert result.exit_code == 0, result.output
            return result

        ann = json.loads(aicc("user", "create", "ann", "--json").stdout)
        secret = json.loads(aicc("token", "create", "laptop", "--user", ann["id"], "--json").stdout)
        as_ann = {**admin, "AICC_TOKEN": secret["secret"]}
        assert run(as_ann, "project", "list").exit_code == 0
        reader = aicc("token", "create", "dash", "--scope", "read").stdout.strip()
        as_reader = {**admin, "AICC_TOKEN": reader}
        assert run(as_reader, "project", "list").exit_code == 0
        refused = run(as_reader, "org", "create", "nope")
        assert refused.exit_code == 1 and "it needs `all`" in refused.stderr
        assert "aicc token create NAME --scope SCOPE" in refused.stderr
        row = next(line for line in aicc("token", "list").stdout.splitlines() if "dash" in line)
        assert row.rstrip().endswith("read")

        done = aicc("user", "disable", ann["id"])
        assert f"disabled user ann ({ann['id']})" in done.stderr
        refused = run(as_ann, "project", "list")
        assert refused.exit_code == 1 and "or its user is disabled" in refused.stderr
        table = aicc("user", "list").stdout
        row = next(line for line in table.splitlines() if ann["id"] in line)
        assert "disabled" in row
        listed = json.loads(aicc("user", "list", "--json").stdout)["items"]
        assert {u["name"]: u["disabled"] for u in listed} == {"admin": False, "ann": True}

        enabled = json.loads(aicc("user", "enable", ann["id"], "--json").stdout)
        assert enabled["disabled"] is False
        assert run(as_ann, "project", "list").exit_code == 0
        row = next(line for line in aicc("user", "list").stdout.splitlines() if "ann" in line)
        assert "enabled" in row

        me = json.loads(aicc("user", "list", "--json").stdout)["items"][0]
        assert me["name"] == "admin"
        myself = run(admin, "user", "disable", me["id"])
        assert myself.exit_code == 1 and "you cannot disable yourself" in myself.stderr
        unknown = run(admin, "user", "enable", "usr_nope")
        assert unknown.exit_code == 1 and "user usr_nope not found" in unknown.stderr


def test_passwords_from_stdin_never_from_the_command_line(tmp_path: Path) -> None:
    """Issue 58: `aicc user create` made users who could never sign in to the portal. A
    password comes with `--password-stdin`, an admin resets one with `aicc user passwd USER`
    (one line of stdin), the user changes their own (the old one first); the portal's sign-in
    takes the newest alone."""
    with over_http(tmp_path / "home") as (url, token, _state):
        admin = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(env: dict[str, str], *args: str, given: str = "") -> Any:
            return CliRunner().invoke(app, list(args), env=env, input=given)

        def signs_in(password: str) -> bool:
            with httpx.Client(base_url=url, timeout=30) as browser:
                browser.get("/sign-in")
                form = {"csrf": browser.cookies.get("aicc_csrf") or "", "username": "bea"}
                answer = browser.post("/sign-in", data={**form, "password": password})
                return answer.status_code == 303

        made = run(
            admin, "user", "create", "bea", "--password-stdin", "--json", given="one-pass-1\n"
        )
        assert made.exit_code == 0, made.output
        bea = json.loads(made.stdout)
        assert signs_in("one-pass-1")
        reset = run(admin, "user", "passwd", "bea", given="two-pass-2\n")
        assert reset.exit_code == 0, reset.output
        assert f"password set for bea ({bea['id']})" in reset.stderr
        assert signs_in("two-pass-2") and not signs_in("one-pass-1")

        secret = json.loads(
            run(admin, "token", "create", "t", "--user", bea["id"], "--json").stdout
        )
        as_bea = {**admin, "AICC_TOKEN": secret["secret"]}
        wrong = run(as_bea, "user", "passwd", bea["id"], given="nope\nthree-pass-3\n")
        assert wrong.exit_code == 1 and "not your current password" in wrong.stderr
        mine = run(as_bea, "user", "passwd", bea["id"], given="two-pass-2\nthree-pass-3\n")
        assert mine.exit_code == 0, mine.output
        assert signs_in("three-pass-3") and not signs_in("two-pass-2")
        empty = run(admin, "user", "passwd", "bea", given="")
        assert empty.exit_code == 1 and "no new password on stdin" in empty.stderr
