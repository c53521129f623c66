"""`aicc model predict` against a real server over HTTP (issue 37): an industry template's model
shows what it takes (`aicc model show`), predicts a data set version into a new one with
`--wait` (a line per state, then the version's ref), and says why when it cannot, before
anything runs."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.testing import templates
from aicc.testing.servers import over_http

NAME = "credit-risk"


def rows_without(loans: Path, *dropped: str, n: int = 20) -> bytes:
    rows = list(csv.DictReader(next(loans.glob("*.csv")).open()))[:n]
    fields = [k for k in rows[0] if k not in dropped]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields)
    writer.writeheader()
    writer.writerows({k: r[k] for k in fields} for r in rows)
    return out.getvalue().encode()


def test_a_model_predicts_a_data_set_version_from_the_cli(tmp_path: Path) -> None:
    loans = templates.example(NAME, tmp_path / "loans")
    (tmp_path / "applications").mkdir()
    (tmp_path / "applications" / "rows.csv").write_bytes(rows_without(loans, "default"))
    (tmp_path / "words").mkdir()
    (tmp_path / "words" / "readme.txt").write_text("no table")
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

        job = json.loads(aicc("template", "run", NAME, "--model", "risk", "--json").stdout)
        for _ in range(600):
            shown = CliRunner().invoke(app, ["model", "show", "risk@1", "--json"], env=env)
            if shown.exit_code == 0:
                break
            time.sleep(0.2)
        assert shown.exit_code == 0, aicc("job", "logs", job["id"]).output
        schema = json.loads(shown.stdout)["input_schema"]
        assert schema["derived"] and "age" in [i["name"] for i in schema["inputs"]]
        table = aicc("model", "show", "risk@1").stdout
        assert "age (number, optional)" in table and "region (category, optional)" in table

        for name in ("applications", "words"):
            aicc("data", "push", name, str(tmp_path / name))

        done = aicc("model", "predict", "risk@1", "--data", "applications@1", "--wait")
        assert done.stdout.strip() == "risk-predictions@1"
        assert "job " in done.stderr and "succeeded" in done.stderr
        made = json.loads(aicc("data", "preview", "risk-predictions@1", "--json").stdout)
        assert "default_probability" in [c["name"] for c in made["columns"]]
        assert len(made["rows"]) == 20

        submitted = json.loads(
            aicc("model", "predict", "risk@1", "--data", "applications@1", "--json").stdout
        )
        assert submitted["name"] == "predict-risk" and submitted["kind"] == "infer"
        assert submitted["spec"]["labels"]["aicc.io/predictions"] == "risk-predictions"

        # Refused before anything runs.
        none = aicc("model", "predict", "risk@1", "--data", "words@1", code=1)
        assert "has no table" in none.stderr
        missing = aicc("model", "predict", "risk@1", "--data", "nothing@1", code=1)
        assert "nothing" in missing.stderr and "not found" in missing.stderr
