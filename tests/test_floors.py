"""The floors of docs/ARCHITECTURE.md hold: the import contracts of pyproject.toml are kept, and
the server, not the API, is what mounts the portal beside the API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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
    contracts = ("Floors", "services", "no I/O", "read the machine", "store", "circles")
    added = ("No router imports another", "The portal imports no router", "The gateway reaches")
    for contract in (*contracts, *added):
        assert contract in done.stdout
    assert "0 broken" in done.stdout


# Which routes an app has is decided when it is built, not by a query: SQLite alone.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_api_alone_serves_no_portal(server: tuple[TestClient, AppState]) -> None:
    client, state = server
    assert client.get("/", headers={"Accept": "text/html"}).status_code in (200, 303)
    api_only = TestClient(create_app(state))
    api_only.headers["Authorization"] = client.headers["Authorization"]
    assert api_only.get("/api/v1/orgs").status_code == 200
    assert api_only.get("/", headers={"Accept": "text/html"}).status_code == 404
    assert api_only.get("/static/portal.css").status_code == 404


def test_a_wrong_import_fails_the_contracts(tmp_path: Path) -> None:
    """The lock bites: the same tree with the API importing the loops, a services module
    importing a face, a router importing another, the portal a store module and the gateway the
    API, or a context one above it, is refused (on a copy; the real tree stays as it is)."""
    shutil.copytree(ROOT / "aicc", tmp_path / "aicc", ignore=shutil.ignore_patterns("vendor"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    deps = tmp_path / "aicc" / "api" / "deps.py"
    deps.write_text(deps.read_text() + "\nimport aicc.loops.controller  # wrong floor\n")
    audit = tmp_path / "aicc" / "services" / "tenancy" / "audit.py"
    audit.write_text(audit.read_text() + "\nimport aicc.portal.web  # a service over a face\n")
    health = tmp_path / "aicc" / "services" / "nodes" / "node_health.py"
    health.write_text(health.read_text() + "\nimport aicc.services.jobs.jobs  # a context upward\n")
    keys = tmp_path / "aicc" / "api" / "routers" / "keys.py"
    keys.write_text(keys.read_text() + "\nimport aicc.api.routers.datasets  # router to router\n")
    page = tmp_path / "aicc" / "portal" / "data.py"
    page.write_text(page.read_text() + "\nimport aicc.store.chunkstore  # a page over the store\n")
    relay = tmp_path / "aicc" / "gateway" / "relay.py"
    relay.write_text(relay.read_text() + "\nimport aicc.api.deps  # the data plane over the API\n")
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint), "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "aicc.api.deps -> aicc.loops.controller" in done.stdout
    assert "aicc.services.tenancy.audit -> aicc.portal.web" in done.stdout
    assert "aicc.api.routers.keys -> aicc.api.routers.datasets" in done.stdout
    assert "aicc.services.nodes is not allowed to import aicc.services.jobs" in done.stdout
    assert "aicc.portal.data -> aicc.store.chunkstore" in done.stdout
    assert "aicc.gateway.relay -> aicc.api.deps" in done.stdout
