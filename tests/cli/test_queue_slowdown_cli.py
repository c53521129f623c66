"""`aicc queue slowdown` against a real server over HTTP (issue 63.3): per project, the mean and
p95 slowdown ((wait + run) / run) of the jobs finished in the window, most slowed down first,
as a table and as the API's `--json`; cancelled jobs, jobs finished before the window and
another tenant's projects are left out."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.services.common import utcnow
from aicc.testing.jobs import finish_as
from aicc.testing.servers import over_http

NODE = {"nodes": [{"name": "cpu-1", "cpu": 8, "memory": "16GiB"}]}


def test_slowdown_per_project_from_the_api_and_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", loops=False) as (url, token, state):
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert http.post("/api/v1/nodes/import", json=NODE).status_code == 200
        for name in ("alpha", "beta", "gamma"):
            assert http.post("/api/v1/projects", json={"name": name}).status_code == 201

        def job(project: str) -> str:
            answer = http.post("/api/v1/jobs", json={"command": "true", "project": project})
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        t = utcnow() - timedelta(hours=2)
        s = timedelta(seconds=1)
        for wait in (0, 100, 300):  # slowdowns 1, 2 and 4
            finish_as(
                state.db, job("alpha"), submitted=t, runs=[(t + wait * s, t + (wait + 100) * s)]
            )
        # two attempts of 100 s, from 100 s and from 500 s: 600 s for 200 s of run, 3
        finish_as(
            state.db,
            job("beta"),
            submitted=t,
            runs=[(t + 100 * s, t + 200 * s), (t + 500 * s, t + 600 * s)],
        )
        finish_as(state.db, job("beta"), submitted=t, runs=[(t, t + 10 * s)], state="cancelled")
        old = t - timedelta(days=9)
        finish_as(state.db, job("beta"), submitted=old, runs=[(old + 900 * s, old + 1000 * s)])

        # a run of 0.2 s after 0.1 s of wait counts as a run of 1 s: 1.1, never below 1
        ms = timedelta(milliseconds=100)
        finish_as(state.db, job("gamma"), submitted=t, runs=[(t + ms, t + 3 * ms)])

        answer = http.get("/api/v1/queues/slowdown")
        assert answer.status_code == 200, answer.text
        rows = answer.json()["items"]
        got = [(r["project"], r["jobs"], round(r["mean"], 3), round(r["p95"], 3)) for r in rows]
        assert got == [("alpha", 3, 2.333, 4.0), ("beta", 1, 3.0, 3.0), ("gamma", 1, 1.1, 1.1)]
        week = http.get("/api/v1/queues/slowdown", params={"window_s": 3600}).json()["items"]
        assert week == []  # none finished in the last hour
        assert http.get("/api/v1/queues/slowdown", params={"window_s": 1}).status_code == 422

        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(*args: str) -> Any:
            return CliRunner().invoke(app, ["queue", "slowdown", *args], env=env)

        table = run()
        assert table.exit_code == 0, table.output
        lines = [line.split() for line in table.stdout.splitlines() if line.strip()]
        assert ["alpha", "3", "2.33", "4.00"] in lines and ["beta", "1", "3.00", "3.00"] in lines
        as_json = run("--json")
        printed = json.loads(as_json.stdout)["items"]  # the API's answer as it came (`since`:
        assert [{**r, "since": None} for r in printed] == [{**r, "since": None} for r in rows]
        assert all(r["since"] >= rows[0]["since"] for r in printed)  # each call's own window)
        only = json.loads(run("--project", "beta", "--window", "30d", "--json").stdout)["items"]
        assert [(r["project"], r["jobs"]) for r in only] == [("beta", 2)]  # the old one too
        assert run("--window", "soon").exit_code != 0
