"""`aicc notebook ...` against a real server over HTTP, with a real JupyterLab: create, list
(a table and `--json`), get, open (the URL), stop, start, rm."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http

pytest.importorskip("jupyterlab", reason="pip install -e '.[notebooks]'")


def test_a_notebook_from_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", limits={"grace_s": 2.0}) as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str, code: int = 0) -> Any:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        bad = aicc("notebook", "create", "nb", "--idle-timeout", "soon", code=1)
        assert "--idle-timeout" in bad.stderr
        made = aicc("notebook", "create", "nb", "--memory", "2Gi", "--idle-timeout", "30m")
        assert "created and starting notebook nb" in made.stderr
        shown = json.loads(aicc("notebook", "get", "nb", "--json").stdout)
        assert shown["idle_timeout_s"] == 1800 and shown["resources"]["memory_mib"] == 2048
        deadline = time.monotonic() + 90
        while json.loads(aicc("notebook", "get", "nb", "--json").stdout)["state"] != "running":
            assert time.monotonic() < deadline, "the notebook did not start"
            time.sleep(0.5)
        table = aicc("notebook", "list").stdout
        row = next(line for line in table.splitlines() if line.startswith("nb "))
        assert "running" in row and "2 GiB" in row and "1800s" in row
        opened = aicc("notebook", "open", "nb").stdout.strip()
        assert opened == f"{url}/notebooks/{shown['job_id']}/lab"

        stopped = aicc("notebook", "stop", "nb")
        assert "stopping notebook nb" in stopped.stderr
        deadline = time.monotonic() + 60
        while json.loads(aicc("notebook", "get", "nb", "--json").stdout)["state"] != "stopped":
            assert time.monotonic() < deadline, "the notebook did not stop"
            time.sleep(0.5)
        closed = aicc("notebook", "open", "nb", code=1)
        assert "not running" in closed.stderr and "aicc notebook start nb" in closed.stderr
        started = json.loads(aicc("notebook", "start", "nb", "--json").stdout)
        assert started["job_id"] != shown["job_id"]
        gone = aicc("notebook", "rm", "nb")
        assert "notebook nb deleted; the files in its home stay" in gone.stderr
        assert json.loads(aicc("notebook", "list", "--json").stdout)["items"] == []
        missing = aicc("notebook", "get", "nb", code=1)
        assert "notebook nb not found" in missing.stderr
