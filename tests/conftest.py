"""Shared fixtures: real servers on SQLite and on a real PostgreSQL, and a second tenant."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from aicc.api.state import AppState
from aicc.testing.postgres import PostgresServer, start_postgres
from aicc.testing.s3 import INSTALL_HINT, S3Server, moto_installed, start_s3
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

hypothesis_settings.register_profile("ci", deadline=None, max_examples=50)
hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run (scripts/install-test-deps.sh installs it)."""
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One real S3-protocol server (moto's, over HTTP) with a bucket, for the whole run."""
    if not moto_installed():
        reason = f"S3 tests need moto, which is not installed: {INSTALL_HINT}"
        warnings.warn(reason, stacklevel=1)  # in the summary, not only as an 's'
        pytest.skip(reason)
    server = start_s3()
    yield server
    server.stop()


_databases = 0


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """Run the test on the embedded SQLite and on PostgreSQL, each time on a fresh database."""
    global _databases
    if request.param == "sqlite":
        return None
    _databases += 1
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"t{os.getpid()}_{_databases}")


@pytest.fixture
def server(tmp_path: Path, db_url: str | None) -> Iterator[tuple[TestClient, AppState]]:
    with in_process(tmp_path / "home", db_url, limits={"grace_s": 2.0}) as pair:
        yield pair


@pytest.fixture
def api(server: tuple[TestClient, AppState]) -> TestClient:
    """An admin's client of a running server (SQLite and PostgreSQL)."""
    return server[0]


@pytest.fixture
def tenant_b(api: TestClient) -> Tenant:
    return make_tenant(api, "tenant-b")
