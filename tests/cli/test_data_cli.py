"""`aicc data push | list | get | versions | pull | rm | review | reviews` against a real server
over HTTP: tables and `--json`, an unchanged push that says so, a pull that writes the files
back, the quota refusal a user reads when a push would not fit, and ratings: a set rated and
its reviews read, the listing sorted by rating and by use."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from aicc.cli.data import size_text
from aicc.cli.main import app
from aicc.testing.servers import over_http


def cli(url: str, token: str, home: Path) -> Callable[..., Result]:
    """`aicc ARGS...` against the server at `url`, asserting its exit code (`code=`)."""
    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200", "AICC_HOME": str(home)}

    def aicc(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result

    return aicc


def test_push_list_get_versions_pull_and_rm(tmp_path: Path, db_url: str | None) -> None:
    src = tmp_path / "src"
    (src / "text").mkdir(parents=True)
    (src / "big.bin").write_bytes(os.urandom(700 * 1024))
    (src / "text" / "a.txt").write_text("hello\n" * 100)
    with over_http(tmp_path / "home", db_url, loops=False) as (url, token, _state):
        aicc = cli(url, token, tmp_path / "client")

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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_rate_read_reviews_and_sort_by_rating_and_use(tmp_path: Path, db_url: str | None) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "rows.csv").write_text("a,b\n1,2\n")
    with over_http(tmp_path / "home", db_url, loops=False) as (url, token, _state):
        aicc = cli(url, token, tmp_path / "client")

        for name in ("alpha", "beta"):
            aicc("data", "push", name, str(src))
        said = aicc("data", "review", "beta", "5", "--text", "clean rows")
        assert "rated beta 5 of 5" in said.output
        review = json.loads(aicc("data", "review", "alpha", "3", "--json").stdout)
        assert (review["user"], review["rating"], review["text"]) == ("admin", 3, "")
        aicc("data", "review", "alpha", "6", code=2)  # out of 1..5: refused by the CLI
        assert "not found" in aicc("data", "review", "no-such-set", "4", code=1).output

        shown = aicc("data", "reviews", "beta").stdout
        assert "rating 5 of 5 (1 ratings)" in shown and "clean rows" in shown
        answer = json.loads(aicc("data", "reviews", "beta", "--json").stdout)
        assert (answer["rating"], answer["ratings"]) == (5.0, 1)
        assert [(r["user"], r["text"]) for r in answer["reviews"]] == [("admin", "clean rows")]
        aicc("data", "push", "gamma", str(src))
        assert "no reviews yet" in aicc("data", "reviews", "gamma").output

        # alpha is mounted by a job: the most used, though beta is the better rated
        job = {"command": "true", "datasets": ["alpha"]}
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{url}/api/v1/jobs", json=job, headers=headers).status_code == 201

        def names(*args: str) -> list[str]:
            items = json.loads(aicc("data", "list", *args, "--json").stdout)["items"]
            return [d["name"] for d in items]

        assert names() == ["alpha", "beta", "gamma"]
        assert names("--sort", "rating") == ["beta", "alpha", "gamma"]
        assert names("--sort", "use") == ["alpha", "beta", "gamma"]
        table = aicc("data", "list", "--sort", "rating").stdout
        assert "RATING" in table and "USES" in table and "5 (1)" in table
        assert table.index("beta") < table.index("alpha")
        assert "sort" in aicc("data", "list", "--sort", "stars", code=1).output
        fields = aicc("data", "get", "beta").stdout
        assert "5 of 5" in fields and "ratings" in fields
