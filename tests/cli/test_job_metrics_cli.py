"""`aicc job metrics` against a real server over HTTP, on a job that logs with
`aicc.log_metrics`: the table (latest, min, max, sparkline), `--json`, and `--follow`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aicc.cli.jobs import sparkline
from aicc.cli.main import app
from aicc.testing.servers import over_http

# Five steps, a little apart, so `--follow` starts while the job runs.
TRAIN = """
import time, aicc
for step in range(5):
    aicc.log_metrics(step=step, loss=1.0 / (step + 1), accuracy=0.6 + 0.08 * step)
    time.sleep(0.4)
"""


def test_metrics_table_json_and_follow(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def aicc(*args: str) -> str:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == 0, result.output
            return result.stdout

        (tmp_path / "train.py").write_text(TRAIN)
        job_id = aicc("run", "--workdir", str(tmp_path), "--", "python", "train.py").split()[0]
        followed = aicc("job", "metrics", job_id, "--follow", "--every", "0.3")
        assert "loss" in followed and "accuracy" in followed  # it ran until the job ended

        answer = json.loads(aicc("job", "metrics", job_id, "--json"))
        assert answer["running"] is False and answer["last_step"] == 4
        assert [v for _, v in answer["metrics"]["loss"]] == [1.0, 0.5, 1 / 3, 0.25, 0.2]

        table = aicc("job", "metrics", job_id).splitlines()
        rows = {line.split()[0]: line.split() for line in table if line.strip()}
        assert rows["METRIC"] == ["METRIC", "LAST", "STEP", "MIN", "MAX", "CURVE"]
        assert rows["loss"] == ["loss", "0.2", "4", "0.2", "1", "█▄▂▁▁"]
        assert rows["accuracy"] == ["accuracy", "0.92", "4", "0.6", "0.92", "▁▃▅▆█"]


def test_a_job_without_metrics_says_how_to_log_them(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token}
        runner = CliRunner()
        job_id = runner.invoke(app, ["run", "--", "true"], env=env).stdout.split()[0]
        assert runner.invoke(app, ["job", "wait", job_id], env=env).exit_code == 0
        shown = runner.invoke(app, ["job", "metrics", job_id], env=env)
        assert shown.exit_code == 0 and "aicc.log_metrics" in shown.output
        missing = runner.invoke(app, ["job", "metrics", "job_nope"], env=env)
        assert missing.exit_code != 0 and "job_nope" in missing.output


def test_sparkline_spans_low_to_high_and_fits_its_width() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3.0, 3.0]) == "▁▁"
    long = sparkline([float(i) for i in range(1000)], width=30)
    assert len(long) == 30 and long[0] == "▁" and long[-1] == "█"
