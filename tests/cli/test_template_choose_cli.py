"""A generic template through the CLI, against a real server over HTTP (issue 37): `aicc
template list --data` says which column each generic template can predict, `aicc template
run` without the column says which to choose and exits 1, and with `--column target=COLUMN`
trains a model of the person's own table."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.testing.servers import over_http


def write_table(folder: Path, rows: int = 60) -> Path:
    """A table of the person's own: a date, numbers and the weather of each day."""
    folder.mkdir(parents=True)
    lines = ["date,temp_max,wind,weather"]
    for i in range(rows):
        weather = ("sun", "rain", "fog")[i % 3]
        high = 20 + i % 7 - (5 if weather == "rain" else 0) + (i % 10) / 10
        lines.append(f"2021-{1 + i // 28:02d}-{1 + i % 28:02d},{high:.1f},{(i * 7) % 11},{weather}")
    (folder / "weather.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_the_cli_says_which_column_to_choose_and_trains_it(tmp_path: Path) -> None:
    table = write_table(tmp_path / "weather")
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {
            "AICC_SERVER": url,
            "AICC_TOKEN": token,
            "COLUMNS": "400",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        assert "pushed weather@1" in aicc("data", "push", "weather", str(table)).output
        listed = aicc("template", "list", "--data", "weather@1").stdout
        row = next(line for line in listed.splitlines() if "table-prediction" in line)
        assert "fits (choose target: temp_max, wind, weather)" in row, listed
        found = json.loads(aicc("template", "list", "--data", "weather@1", "--json").stdout)
        fit = {t["name"]: t["fit"] for t in found["items"]}["table-prediction"]
        assert fit["ok"] and "weather" in fit["choose"]["target"]

        unchosen = aicc("template", "run", "table-prediction", "--data", "weather@1", code=1)
        said = " ".join(unchosen.output.split())
        assert "choose the column to predict: --column target=COLUMN (one of:" in said, said
        assert "weather" in said

        run = ["template", "run", "table-prediction", "--data", "weather@1", "--model", "mine"]
        run += ["--column", "target=weather", "--set", "time_budget_s=10", "--wait"]
        done = aicc(*run)
        assert "submitted training job" in done.output
        model = json.loads(aicc("model", "get", "mine", "--json").stdout)
        assert (
            model["versions"] and model["versions"][0]["lineage"]["template"] == "table-prediction"
        )


def test_model_train_picks_the_generic_template_the_data_fits(tmp_path: Path) -> None:
    """`aicc model train NAME --data REF --target COLUMN`, the contract's one-liner: a tenant
    need not know template names; a time column asks for the series template; a target the
    data lacks says why each generic template does not fit, and submits nothing."""
    table = write_table(tmp_path / "weather")
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "400"}
        env["AICC_HOME"] = str(tmp_path / "client")

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        aicc("data", "push", "weather", str(table))
        table_run = aicc("model", "train", "sky", "--data", "weather@1", "--target", "weather")
        assert "template table-prediction: weather@1 fits it with target=weather" in (
            table_run.output
        )
        series = ["model", "train", "heat", "--data", "weather@1", "--target", "temp_max"]
        series_run = aicc(*series, "--column", "time=date", "--json")
        job = json.loads(series_run.stdout)
        assert job["name"] == "train-series-forecast", job
        jobs = json.loads(aicc("job", "list", "--json").stdout)["items"]
        assert len(jobs) == 2, jobs
        for each in jobs:
            aicc("job", "cancel", each["id"])

        missing = aicc("model", "train", "x", "--data", "weather@1", "--target", "nope", code=1)
        said = " ".join(missing.output.split())
        assert "weather@1 fits no generic template with target=nope" in said, said
        assert "table-prediction:" in said and "nope" in said
        assert len(json.loads(aicc("job", "list", "--json").stdout)["items"]) == 2
