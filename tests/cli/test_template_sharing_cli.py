"""Publishing a template, finding it with its price, rating it and withdrawing it, through the
CLI against a real server over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.testing import templates
from aicc.testing.servers import over_http


def test_publish_rate_and_withdraw(tmp_path: Path) -> None:
    folder = tmp_path / "mean-cli"
    folder.mkdir()
    for path, text in templates.own("mean-cli").items():
        (folder / path).write_text(text)
    with over_http(tmp_path / "home") as (url, token, _state):
        env = {
            "AICC_SERVER": url,
            "AICC_TOKEN": token,
            "COLUMNS": "250",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        said = aicc("template", "publish", str(folder), "--price", "5", "--visibility", "org")
        assert "published" in said.output and "/mean-cli@1" in said.output
        assert "5.00 CNY per run" in said.output
        listed = aicc("template", "list", "-q", "mean").stdout
        assert "mean-cli@1" in listed and "5.00 CNY" in listed
        assert "rated mean-cli 4 of 5" in aicc("template", "review", "mean-cli", "4").output
        aicc("template", "review", "mean-cli", "6", code=2)  # out of 1..5: refused by the CLI
        shown = aicc("template", "show", "mean-cli").stdout
        assert "4 of 5" in shown and "org" in shown
        (folder / "template.yaml").write_text("name: mean-cli\nindustry: mining\n")
        bad = aicc("template", "publish", str(folder), code=1).output
        assert "template.yaml" in bad
        assert "removed template mean-cli" in aicc("template", "rm", "mean-cli").output
        gone = json.loads(aicc("template", "list", "--json").stdout)["items"]
        assert "mean-cli" not in {t["name"] for t in gone}
