"""带着数据来、拿着成果走 through the CLI, against a real server over HTTP: push a table, find
the templates that fit it, `aicc template run`, the registered model in tables and `--json`,
stage it, pull it and run the downloaded predict script as a person would."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.core import templates as core
from aicc.testing import templates
from aicc.testing.servers import over_http

NAME = "credit-risk"


def test_from_a_table_to_a_model_that_predicts(tmp_path: Path) -> None:
    loans = templates.example(NAME, tmp_path / "loans")
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {
            "AICC_SERVER": url,
            "AICC_TOKEN": token,
            "COLUMNS": "200",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        assert "pushed loans@1" in aicc("data", "push", "loans", str(loans)).output
        catalog = aicc("template", "list").stdout
        assert "credit-risk" in catalog and "finance" in catalog and "auc" in catalog
        fitting = json.loads(aicc("template", "list", "--data", "loans@1", "--json").stdout)
        first = fitting["items"][0]
        assert first["name"] == NAME and first["fit"]["ok"]
        assert (
            "no images in class folders"
            in {t["name"]: t["fit"]["reason"] for t in fitting["items"]}["defect-inspection"]
        )
        assert "credit-risk" in aicc("template", "show", NAME).stdout
        wrong = aicc("template", "run", NAME, "--set", "max_iter=0", code=1).output
        assert "hyperparameters.max_iter" in wrong

        job = json.loads(
            aicc("template", "run", NAME, "--data", "loans@1", "--model", "risk", "--json").stdout
        )
        state = wait(aicc, job["id"])
        assert state == "succeeded", aicc("job", "logs", job["id"]).output
        model = wait_model(aicc, "risk")
        (version,) = model["versions"]
        assert core.reached(templates.manifest(NAME).metric, version["metrics"]["auc"])
        assert version["lineage"]["template"] == NAME
        table = aicc("model", "list").stdout
        assert "risk" in table and "staging" in table and "auc=" in table
        assert "loans@1" in aicc("model", "version", "risk@1").stdout
        assert "production" in aicc("model", "stage", "risk@1", "production").output
        pulled = aicc("model", "pull", "risk@1", str(tmp_path / "risk")).output
        assert "risk@1" in pulled

    # The downloaded model runs without AICC: predict on rows without the answer.
    rows = list(csv.DictReader((next(loans.glob("*.csv"))).open()))[:50]
    given = tmp_path / "applications.csv"
    with given.open("w", newline="") as out:
        fields = [k for k in rows[0] if k != "default"]
        writer = csv.DictWriter(out, fields)
        writer.writeheader()
        writer.writerows({k: r[k] for k in fields} for r in rows)
    done = subprocess.run(
        [
            sys.executable,
            "predict.py",
            "--model",
            "model",
            "--input",
            str(given),
            "--output",
            str(tmp_path / "scored.csv"),
        ],
        cwd=tmp_path / "risk",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    scored = list(csv.DictReader((tmp_path / "scored.csv").open()))
    assert len(scored) == 50
    assert all(0.0 <= float(r["default_probability"]) <= 1.0 for r in scored)


def wait(aicc: Callable[..., Result], job_id: str) -> str:
    for _ in range(600):
        state = json.loads(aicc("job", "get", job_id, "--json").stdout)["state"]
        if state in ("succeeded", "failed", "cancelled"):
            return str(state)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end")


def wait_model(aicc: Callable[..., Result], name: str) -> dict[str, Any]:
    for _ in range(100):
        got: dict[str, Any] = json.loads(aicc("model", "get", name, "--json").stdout)
        if got["versions"]:
            return got
        time.sleep(0.2)
    raise AssertionError(f"model {name} has no version")
