"""`aicc federation key|sites` and `aicc data region` against a real server over HTTP: the
key an operator hands to peers, the peers as a table and as JSON, a data set's region tag."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.services.common import utcnow
from aicc.services.federation import signing
from aicc.testing.servers import over_http


def test_federation_from_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    peer_key = signing.load_key(tmp_path / "peer.key")
    federation = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "jurisdiction": "CN-GD",
        "peers": [
            {
                "site": "sh",
                "url": "http://127.0.0.1:9",
                "public_key": signing.public_text(peer_key),
            },
            {
                "site": "bj",
                "url": "http://127.0.0.1:9",
                "public_key": signing.public_text(peer_key),
            },
        ],
    }
    home.mkdir()
    (home / "config.yaml").write_text(yaml.safe_dump({"federation": federation}))
    printed = CliRunner().invoke(app, ["federation", "key", "--home", str(home)])
    assert printed.exit_code == 0, printed.output
    key_file = home / "federation.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert printed.stdout.strip() == signing.public_text(signing.load_key(key_file))
    with over_http(home, loops=False, federation=federation) as (url, token, _state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

        def run(*args: str) -> Any:
            return CliRunner().invoke(app, list(args), env=env)

        advert = {
            "site": "sh",
            "jurisdiction": "CN-SH",
            "models": {"H100-SXM": {"count": 8, "free": 3, "pflops": 0.989, "wait_s": 60.0}},
        }
        body = json.dumps(advert).encode()
        path = "/api/v1/federation/adverts"
        headers = signing.sign(
            peer_key, "sh", "POST", path, body, utcnow() - timedelta(seconds=5), to="home"
        )
        headers["Content-Type"] = "application/json"
        answer = httpx.post(url + path, content=body, headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text  # 5 s, httpx's default, timed out in CI

        table = run("federation", "sites")
        assert table.exit_code == 0, table.output
        sh = next(line for line in table.stdout.splitlines() if line.startswith("sh"))
        assert "up" in sh and "CN-SH" in sh and "3/8 H100-SXM" in sh
        bj = next(line for line in table.stdout.splitlines() if line.startswith("bj"))
        assert "lost" in bj
        listed = json.loads(run("federation", "sites", "--json").stdout)["items"]
        assert [(s["site"], s["state"]) for s in listed] == [("sh", "up"), ("bj", "lost")]

        folder = tmp_path / "records"
        folder.mkdir()
        (folder / "a.csv").write_text("x\n1\n")
        assert run("data", "push", "records", str(folder)).exit_code == 0
        tagged = run("data", "region", "records", "CN-GD")
        assert tagged.exit_code == 0, tagged.output
        assert "region CN-GD" in tagged.stderr
        shown = run("data", "get", "records")
        assert any(line.split()[:2] == ["region", "CN-GD"] for line in shown.stdout.splitlines())
        assert json.loads(run("data", "get", "records", "--json").stdout)["region"] == "CN-GD"
        wrong = run("data", "region", "records", "guangdong")
        assert wrong.exit_code == 1 and "region" in wrong.stderr
        cleared = run("data", "region", "records", "")
        assert cleared.exit_code == 0 and "region none" in cleared.stderr
