"""`aicc deploy ...` against a real server over HTTP: a deployment of a command comes up ready,
shows in tables and `--json`, is updated, rolled back, scaled, stopped and removed; a refusal
is one line saying what to fix and a non-zero exit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.testing.servers import over_http

SERVE = (
    "mkdir -p site && echo ok > site/health && "
    "exec python -m http.server $PORT --bind $AICC_SERVICE_HOST --directory site"
)
FAST = {"probe_interval_s": 0.2, "drain_s": 0.2, "backoff_s": 0.1}


def test_deploy_a_command_and_manage_it(tmp_path: Path) -> None:
    with over_http(tmp_path / "home", deployments=FAST) as (url, token, _state):
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

        def get() -> dict[str, Any]:
            found: dict[str, Any] = json.loads(aicc("deploy", "get", "web", "--json").stdout)
            return found

        def until(state: str, revision: int) -> dict[str, Any]:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = get()
                if (found["state"], found["revision"]) == (state, revision):
                    return found
                time.sleep(0.2)
            raise AssertionError(f"web not {state} at revision {revision}: {found}")

        assert "no deployments" in aicc("deploy", "list").output
        made = aicc("deploy", "create", "web", "--command", SERVE, "--cpu", "0.2", "-e", "V=1")
        assert "created deployment web" in made.output
        up = until("ready", 1)
        assert up["resources"] == {"cpu": "0.2"} and up["env"] == {"V": "1"}
        table = aicc("deploy", "list").stdout
        assert "web" in table and "ready" in table and "1/1" in table
        shown = aicc("deploy", "get", "web").stdout
        assert "ready" in shown and up["replicas"][0]["job_id"] in shown

        assert "updated deployment web" in aicc("deploy", "update", "web", "-e", "V=2").output
        assert until("ready", 2)["env"] == {"V": "2"}
        aicc("deploy", "rollback", "web")
        assert until("ready", 3)["env"] == {"V": "1"}

        scaled = json.loads(aicc("deploy", "scale", "web", "--max", "2", "--json").stdout)
        assert (scaled["min_replicas"], scaled["max_replicas"]) == (1, 2)
        wrong = aicc("deploy", "scale", "web", "--min", "3", code=1).output
        assert "min_replicas" in wrong and "max_replicas" in wrong
        missing = aicc("deploy", "create", "api", "--model", "no-such-model", code=1).output
        assert "model no-such-model not found" in missing

        assert "stopped deployment web" in aicc("deploy", "stop", "web").output
        assert get()["state"] == "stopped"
        assert "deployment web deleted" in aicc("deploy", "rm", "web").output
        aicc("deploy", "get", "web", code=1)
