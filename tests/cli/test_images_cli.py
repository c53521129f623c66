"""`aicc image push | list | get | share | pull | rm` against a real server and a real
registry: a push shows a bar and names the reference, `list --json` has the contract's fields
(`name`, `tags`, `size_bytes`, `visibility`), `rm` empties it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.sdk.client import Client
from aicc.testing import registry
from aicc.testing.polling import wait
from aicc.testing.registry import layer_tar, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)


def test_push_list_share_pull_and_rm(tmp_path: Path) -> None:
    oci_layout(tmp_path / "img", layer_tar({"data.bin": os.urandom(2 * 1024 * 1024)}))
    with registry.center(tmp_path / "home") as c:
        env = {
            "AICC_SERVER": c.url,
            "AICC_TOKEN": c.token,
            "COLUMNS": "200",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        pushed = aicc("image", "push", "demo:1", str(tmp_path / "img"))
        assert f"pushed {c.registry.host}/default/default/demo:1" in pushed.output
        assert "pushing demo:1" in pushed.output and "MiB" in pushed.output  # the bar
        api = Client(c.url, c.token)
        wait("the push booked", lambda: api.images.list())

        listed = json.loads(aicc("image", "list", "--json").stdout)["items"]
        assert [(i["name"], [t["tag"] for t in i["tags"]], i["visibility"]) for i in listed] == [
            ("demo", ["1"], "private")
        ]
        assert listed[0]["size_bytes"] > 2 * 1024 * 1024
        table = aicc("image", "list").stdout
        assert "demo" in table and "MiB" in table and "private" in table
        assert "default/default/demo" in aicc("image", "get", "demo").stdout
        assert "image demo is public" in aicc("image", "share", "demo", "public").output

        pulled = aicc("image", "pull", "demo:1", str(tmp_path / "out"))
        assert "pulled" in pulled.output and (tmp_path / "out" / "index.json").exists()

        missing = aicc("image", "rm", "nothing", code=1)
        assert "not found" in missing.output
        assert "image demo deleted" in aicc("image", "rm", "demo").output
        assert json.loads(aicc("image", "list", "--json").stdout)["items"] == []
