"""The floors of docs/ARCHITECTURE.md hold: the import contracts of pyproject.toml are kept, and
the server, not the API, is what mounts the portal beside the API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from aicc.api.app import create_app
from aicc.api.state import AppState

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for contract in ("Floors", "services", "no I/O", "read the machine", "store", "circles"):
        assert contract in done.stdout
    assert "0 broken" in done.stdout


def test_the_api_alone_serves_no_portal(server: tuple[TestClient, AppState]) -> None:
    client, state = server
    assert client.get("/", headers={"Accept": "text/html"}).status_code in (200, 303)
    api_only = TestClient(create_app(state))
    api_only.headers["Authorization"] = client.headers["Authorization"]
    assert api_only.get("/api/v1/orgs").status_code == 200
    assert api_only.get("/", headers={"Accept": "text/html"}).status_code == 404
    assert api_only.get("/static/portal.css").status_code == 404
