"""`aicc need ...` and `aicc challenge ...` against a real server over HTTP: a poster posts a need
and makes it a challenge, a team joins and submits a model, the boards show its score, the
award goes out once; `--json` is the API's JSON, tables name what matters, and a refusal is one
line saying what to fix."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.store.tables.needs import NeedRow
from aicc.testing import challenges
from aicc.testing.datasets import push
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def test_a_challenge_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, state):
        poster = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            team_t = make_tenant(http, "cli-team")
            answers = "x,answer\n" + "".join(f"{i},{'yes' if i % 4 else 'no'}\n" for i in range(40))
            push(http, "answers", {"test.csv": answers.encode()})
        team = {**poster, "AICC_TOKEN": team_t.token}

        def run(env: dict[str, str], *args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        need = [
            "need", "create", "yes-or-no", "--title", "Yes or no?", "--problem", "Say yes or no.",
            "--metric", "accuracy", "--deadline", "+7d", "--reward", "50",
        ]  # fmt: skip
        made = run(poster, *need, "--json")
        assert made.exit_code == 0, made.output
        assert json.loads(made.stdout)["reward"] == "50.00"
        bad = run(poster, *need[:-2], "--reward", "-1")
        assert bad.exit_code == 1 and "reward" in bad.stderr
        listed = run(team, "need", "list")
        assert "yes-or-no" in listed.stdout and "50.00 CNY" in listed.stdout, listed.output
        assert "no needs yet" in run(team, "need", "list", "--text", "snow").stderr
        asked = run(
            team, "need", "ask", "yes-or-no", "Is 'maybe' allowed?", "--org", "default", "--json"
        )
        assert asked.exit_code == 0, asked.output
        question = json.loads(asked.stdout)["id"]
        assert run(poster, "need", "answer", "yes-or-no", question, "No.").exit_code == 0
        shown = run(team, "need", "questions", "yes-or-no", "--org", "default")
        assert shown.exit_code == 0, shown.output
        assert "Is 'maybe' allowed?" in shown.stdout and "No." in shown.stdout

        hidden = ["--hidden", "answers@1", "--target", "answer", "--max-runtime", "60"]
        created = run(poster, "challenge", "create", "yes-or-no", *hidden, "--json")
        assert created.exit_code == 0, created.output
        cid = json.loads(created.stdout)["id"]
        got = run(team, "challenge", "get", cid)
        assert "accuracy (higher is better)" in got.stdout and "40" in got.stdout
        assert run(team, "challenge", "join", cid, "--team", "yes-team").exit_code == 0

        with httpx.Client(timeout=60, base_url=url, headers=team_t.headers) as http:
            challenges.model(http, "sayer")
        sent = run(team, "challenge", "submit", cid, "sayer")
        assert sent.exit_code == 0 and "scoring" in sent.stderr, sent.output
        for _ in range(600):
            (mine,) = json.loads(run(team, "challenge", "submissions", cid, "--json").stdout)[
                "items"
            ]
            if mine["state"] != "scoring":
                break
            time.sleep(0.2)
        assert mine["state"] == "scored", mine
        board = run(team, "challenge", "board", cid)
        assert "public board, accuracy" in board.stdout and "yes-team" in board.stdout
        closed = run(team, "challenge", "board", cid, "--private")
        assert closed.exit_code == 1 and "private board opens at the deadline" in closed.stderr

        with state.db.session() as session:
            session.execute(
                update(NeedRow)
                .where(NeedRow.name == "yes-or-no")
                .values(deadline=datetime.now(UTC) - timedelta(seconds=1))
            )
        final = json.loads(run(team, "challenge", "board", cid, "--private", "--json").stdout)
        ((first,),) = [final["standings"]]
        assert first["team"] == "yes-team" and 0.6 < first["score"] <= 1.0
        wrong = run(poster, "challenge", "award", cid, "--team", "yes-team")
        assert wrong.exit_code == 1 and "TEAM=AMOUNT" in wrong.stderr
        awarded = run(poster, "challenge", "award", cid, "--team", "yes-team=50")
        assert awarded.exit_code == 0 and "awarded 1 team" in awarded.stderr, awarded.output
        twice = run(poster, "challenge", "award", cid, "--team", "yes-team=1")
        assert twice.exit_code == 1 and "awarded already" in twice.stderr
        (award,) = json.loads(run(team, "challenge", "awards", cid, "--json").stdout)["items"]
        assert award["amount"] == "50.00" and len(award["vouchers"]) == 1
