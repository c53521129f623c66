"""`aicc data push | list | get | versions | pull | rm` against a real server over HTTP: tables
and `--json`, an unchanged push that says so, a pull that writes the files back, and the
quota refusal a user reads when a push would not fit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from aicc.cli.data import size_text
from aicc.cli.main import app
from aicc.testing.servers import over_http


def test_push_list_get_versions_pull_and_rm(tmp_path: Path, db_url: str | None) -> None:
    src = tmp_path / "src"
    (src / "text").mkdir(parents=True)
    (src / "big.bin").write_bytes(os.urandom(700 * 1024))
    (src / "text" / "a.txt").write_text("hello\n" * 100)
    with over_http(tmp_path / "home", db_url, loops=False) as (url, token, _state):
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

        pushed = aicc("data", "push", "corpus", str(src), "-m", "first")
        assert "pushed corpus@1" in pushed.output
        assert "unchanged" in aicc("data", "push", "corpus", str(src)).output
        (src / "text" / "b.txt").write_text("more\n")
        second = json.loads(aicc("data", "push", "corpus", str(src), "--json").stdout)
        assert second["created"] and second["version"]["ref"] == "corpus@2"

        stored = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
        table = aicc("data", "list").stdout
        assert "corpus" in table and "STORED" in table and size_text(stored) in table
        listed = json.loads(aicc("data", "list", "--json").stdout)["items"]
        assert [d["name"] for d in listed] == ["corpus"] and listed[0]["latest"] == 2
        shown = aicc("data", "get", "corpus").stdout
        assert "private" in shown and size_text(stored) in shown
        got = json.loads(aicc("data", "get", "corpus", "--json").stdout)
        assert got["file_count"] == 3 and got["stored_bytes"] >= 700 * 1024
        versions = aicc("data", "versions", "corpus").stdout
        assert "corpus@2" in versions and "corpus@1" in versions and "first" in versions
        answer = json.loads(aicc("data", "versions", "corpus", "--json").stdout)
        assert [v["ref"] for v in answer["items"]] == ["corpus@2", "corpus@1"]

        out = tmp_path / "out"
        pulled = aicc("data", "pull", "corpus@1", str(out)).output
        assert "corpus@1: 2 of 2 files fetched" in pulled
        assert (out / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
        assert not (out / "text" / "b.txt").exists()

        quota = {"max": {"storage_gib": 1 / 1024}}  # 1 MiB: corpus holds 700 KiB of it
        headers = {"Authorization": f"Bearer {token}"}
        put = httpx.put(
            f"{url}/api/v1/projects/{got['project_id']}/quota", json=quota, headers=headers
        )
        assert put.status_code == 200
        (tmp_path / "huge").mkdir()
        (tmp_path / "huge" / "x.bin").write_bytes(os.urandom(600 * 1024))
        refused = aicc("data", "push", "huge", str(tmp_path / "huge"), code=1).output
        assert "would pass its limit" in refused and "aicc data rm" in refused

        assert "data set corpus deleted" in aicc("data", "rm", "corpus").output
        assert json.loads(aicc("data", "list", "--json").stdout)["items"] == []
        assert "not found" in aicc("data", "get", "corpus", code=1).output
