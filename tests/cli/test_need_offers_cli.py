"""`aicc need offer ...` against a real server over HTTP: a provider offers its deployment on a
need, the poster lists and accepts it and is shown the key's secret once, the key answers, and
the poster ends it; a wrong call is one line that says what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.deployments import deploy
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def test_an_offer_from_the_cli(tmp_path: Path) -> None:
    with (
        over_http(tmp_path / "home", limits={"grace_s": 1.0}) as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        pub = make_tenant(api, "provider", role="org_admin")
        deploy(api, "letters", headers=pub.headers)
        poster = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        provider = {**poster, "AICC_TOKEN": pub.token}

        def run(env: dict[str, str], *args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        need = [
            "need", "create", "sort-mail", "--title", "Sort letters", "--problem", "Route them.",
            "--metric", "accuracy", "--deadline", "+7d",
        ]  # fmt: skip
        assert run(poster, *need).exit_code == 0
        org = api.get("/api/v1/me").json()["org"]["name"]

        both = run(provider, "need", "offer", "sort-mail", "--org", org, "--price", "3")
        assert both.exit_code != 0 and "--template or --deployment" in both.output
        made = run(
            provider, "need", "offer", "sort-mail", "--org", org, "--deployment", "letters",
            "--price", "3", "--message", "Answers in Chinese too.", "--json",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        offer = json.loads(made.output)
        assert offer["state"] == "open" and offer["unit"] == "1k_requests"

        listed = run(poster, "need", "offers", "sort-mail")
        assert listed.exit_code == 0, listed.output
        assert "provider" in listed.output and "3.00 CNY per 1,000 requests" in listed.output
        assert "letters" in listed.output and "open" in listed.output

        accepted = run(poster, "need", "accept", "sort-mail", offer["id"])
        assert accepted.exit_code == 0, accepted.output
        assert "shown this once: aicc-sk-" in accepted.output
        secret = accepted.output.rsplit("shown this once: ", 1)[1].split()[0]
        answered = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "letters", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
        assert answered.status_code == 200, answered.text

        again = run(poster, "need", "accept", "sort-mail", offer["id"])
        assert again.exit_code != 0 and "accepted already" in again.output
        ended = run(provider, "need", "end-offer", "sort-mail", offer["id"], "--org", org)
        assert ended.exit_code == 0 and "ended offer" in ended.output
        shown = json.loads(run(poster, "need", "offers", "sort-mail", "--json").output)
        assert [o["state"] for o in shown["items"]] == ["ended"]
