"""A queue's bound on a gang (issue 35: "gangs bounded per queue"): a job asking more replicas
than its queue's `max_replicas_per_job` is a 422 naming the queue and the bound; a queue's bound
never lifts the center's `limits.max_replicas_per_job`; the CLI sets and shows it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import in_process, over_http

TINY = {"command": "true", "resources": {"cpu": "1m", "memory": "16MiB"}, "max_runtime": "5m"}


def test_a_gang_beyond_its_queues_bound_is_refused_and_within_it_accepted(
    tmp_path: Path,
) -> None:
    with in_process(tmp_path / "home", limits={"max_replicas_per_job": 8}) as (api, _state):
        made = api.post("/api/v1/queues", json={"name": "small", "max_replicas_per_job": 3})
        assert made.status_code == 201 and made.json()["max_replicas_per_job"] == 3, made.text
        wide = api.post("/api/v1/queues", json={"name": "wide", "max_replicas_per_job": 20})
        assert wide.status_code == 201, wide.text

        over = api.post("/api/v1/jobs", json={**TINY, "queue": "small", "replicas": 4})
        assert over.status_code == 422, over.text
        assert over.json()["detail"].startswith(
            "replicas: queue small runs at most 3 replicas per job (asked 4)"
        )
        within = api.post("/api/v1/jobs", json={**TINY, "queue": "small", "replicas": 3})
        assert within.status_code == 201, within.text
        # a queue's bound above the center's does not lift it
        lifted = api.post("/api/v1/jobs", json={**TINY, "queue": "wide", "replicas": 9})
        assert lifted.status_code == 422, lifted.text
        assert "this center runs at most 8 replicas per job (asked 9)" in lifted.json()["detail"]
        # the default queue has none: the center's bound alone
        assert api.post("/api/v1/jobs", json={**TINY, "replicas": 8}).status_code == 201
        listed = {q["name"]: q for q in api.get("/api/v1/queues").json()["items"]}
        assert listed["default"]["max_replicas_per_job"] is None
        assert listed["small"]["max_replicas_per_job"] == 3
        beyond_spec = api.post("/api/v1/queues", json={"name": "x", "max_replicas_per_job": 1025})
        assert beyond_spec.status_code == 422, beyond_spec.text


def test_the_cli_sets_and_shows_a_queues_bound(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str) -> Any:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result

        made = json.loads(
            aicc("queue", "create", "small", "--max-replicas-per-job", "2", "--json").stdout
        )
        assert made["max_replicas_per_job"] == 2
        listed = json.loads(aicc("queue", "list", "--json").stdout)["items"]
        assert {q["name"]: q["max_replicas_per_job"] for q in listed} == {
            "default": None,
            "small": 2,
        }
        row = next(line for line in aicc("queue", "list").stdout.splitlines() if "small" in line)
        assert "MAX REPLICAS" in aicc("queue", "list").stdout and row.rstrip().endswith("2")
