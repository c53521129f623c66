"""`aicc node import` and `aicc job submit|get|resubmit|spec` against a real server over HTTP:
a job asking for a MIG slice of a simulated A100 runs on one and says so, runs again, and is
cloned edited."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.polling import wait
from aicc.testing.servers import over_http

INVENTORY = """\
nodes:
  - name: mig-a
    cpu: 8
    memory: 32GiB
    devices:
      - model: A100-80GB
        simulated: true
        mig: [3g.40gb, 1g.10gb, 1g.10gb]
"""

JOB = """\
name: slice
command: echo "profile=$AICC_MIG_PROFILE"
resources:
  accelerator: {mig: 1g.10gb}
"""


def test_a_job_asking_for_a_mig_slice_runs_on_one(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str) -> str:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result.stdout

        (tmp_path / "inventory.yaml").write_text(INVENTORY)
        assert "mig-a" in aicc("node", "import", str(tmp_path / "inventory.yaml"))
        (tmp_path / "job.yaml").write_text(JOB)
        job_id = aicc("job", "submit", "-f", str(tmp_path / "job.yaml"), "--wait").split()[0]
        shown = aicc("job", "get", job_id)
        assert "mig 1g.10gb" in shown and "A100-80GB#0 mig slice 1" in shown
        assert "profile=1g.10gb" in aicc("job", "logs", job_id)

        # run again as it was, and clone it edited: `aicc job resubmit`, `aicc job spec`
        again_id = aicc("job", "resubmit", job_id).strip()
        assert again_id != job_id and aicc("job", "wait", again_id) is not None
        written = aicc("job", "spec", job_id)
        assert "name: slice\n" in written and "mig: 1g.10gb" in written
        (tmp_path / "clone.yaml").write_text(written.replace("name: slice", "name: slice-two"))
        clone_id = aicc("job", "submit", "-f", str(tmp_path / "clone.yaml"), "--wait").split()[0]
        assert "profile=1g.10gb" in aicc("job", "logs", clone_id)
        assert "slice-two" in aicc("job", "get", clone_id)


def test_cancel_says_when_the_job_already_ended(tmp_path: Path) -> None:
    """Issue 58: `aicc job cancel` of a finished job exited 0 saying "cancel requested". It
    exits 1 naming the state, as `scancel` of an ended job does; a job cancelled is said so,
    and cancelling it again is no error."""
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str, code: int = 0) -> str:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result.output

        job_id = aicc("run", "--", "true").split()[0]
        aicc("job", "wait", job_id)
        ended = aicc("job", "cancel", job_id, code=1)
        assert f"job {job_id} already ended (succeeded)" in ended, ended
        assert "cancel requested" not in ended
        job_id = aicc("run", "--", "sleep 60").split()[0]
        wait("running", lambda: '"running"' in aicc("job", "get", job_id, "--json"))
        assert f"cancel requested for {job_id}" in aicc("job", "cancel", job_id)
        aicc("job", "wait", job_id, code=1)  # it ended cancelled
        assert f"job {job_id} cancelled" in aicc("job", "cancel", job_id)  # again: no error
