"""Failures say why in the CLI (issue 37, point 5), against a real server over HTTP: `aicc job
logs` on a failed job whose stdout is empty prints its stderr (on stderr, after a line that
says so) and exits 1; `aicc template run --wait` on a run whose training dies prints the
outcome and the last lines of stderr and exits 1; a template that needs a library this server
lacks is refused before it is submitted, naming the module and the command that installs it."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing import templates
from aicc.testing.servers import over_http

NOISY = """\
name: sensor-clean
command: >-
  python -c "import sys; [print(f'line {i}', file=sys.stderr) for i in range(60)];
  print('RuntimeError: the sensor table is empty', file=sys.stderr); sys.exit(3)"
resources: {cpu: 100m, memory: 64MiB}
"""
QUIET = """\
name: quiet
command: "true"
resources: {cpu: 100m, memory: 64MiB}
"""


def test_failures_say_why_in_the_cli(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str, code: int = 0) -> tuple[str, str]:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, (result.stdout, result.stderr)
            return result.stdout, result.stderr

        (tmp_path / "noisy.yaml").write_text(NOISY)
        out, _ = aicc("job", "submit", "-f", str(tmp_path / "noisy.yaml"), "--wait", code=1)
        job_id = out.split()[0]

        # stdout is empty: stderr is printed instead, after a line saying where it is; exit 1
        out, err = aicc("job", "logs", job_id, code=1)
        assert out == ""
        assert f"stdout of {job_id} is empty; its stderr follows" in err
        assert f"aicc job logs {job_id} --stderr" in err
        assert "line 0\n" in err and "RuntimeError: the sensor table is empty" in err
        assert f"job {job_id} failed (exit_code)" in err.splitlines()[-1]
        out, err = aicc("job", "logs", job_id, "--stderr", code=1)
        assert "RuntimeError: the sensor table is empty" in out
        # --help says what the exit code means
        help_text, _ = aicc("job", "logs", "--help")
        assert "1 when it ended without succeeding" in " ".join(help_text.split())

        # A job that succeeded and printed nothing: one line saying so, exit 0.
        (tmp_path / "quiet.yaml").write_text(QUIET)
        out, _ = aicc("job", "submit", "-f", str(tmp_path / "quiet.yaml"), "--wait")
        out, err = aicc("job", "logs", out.split()[0])
        assert out == "" and "wrote nothing to stdout or stderr" in err

        # A template run that dies at its first import: --wait says why, exits 1.
        http = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        files = templates.own("broken-mean")
        files["train.py"] = "import fancylib_not_installed\n"
        assert http.post("/api/v1/templates", json={"files": files}).status_code == 201
        _, err = aicc("template", "run", "broken-mean", "--wait", code=1)
        assert "failed (exit_code)" in err
        assert "the last " in err and "lines of its stderr" in err
        assert "ModuleNotFoundError: No module named 'fancylib_not_installed'" in err

        # One that declares a library nobody installed: refused, with the command; no job.
        files = templates.own("needs-lib")
        manifest = yaml.safe_load(files["template.yaml"])
        manifest["requirements"] = ["fancylib-not-installed>=1"]
        files["template.yaml"] = yaml.safe_dump(manifest)
        assert http.post("/api/v1/templates", json={"files": files}).status_code == 201
        jobs_before = http.get("/api/v1/jobs").json()["items"]
        _, err = aicc("template", "run", "needs-lib", "--wait", code=1)
        assert "fancylib_not_installed" in err
        assert "pip install fancylib-not-installed" in " ".join(err.split())
        assert http.get("/api/v1/jobs").json()["items"] == jobs_before
        http.close()
