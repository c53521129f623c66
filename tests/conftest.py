"""Shared fixtures: real servers on SQLite and on a real PostgreSQL, and a second tenant; and
the session's marker, by which what the tests started and left alive is found and killed at
the end (aicc/testing/leftovers.py)."""

from __future__ import annotations

import json
import os
import statistics
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from aicc.api.state import AppState
from aicc.testing import leftovers
from aicc.testing.postgres import PostgresServer, start_postgres
from aicc.testing.s3 import INSTALL_HINT, S3Server, moto_installed, start_s3
from aicc.testing.servers import forget_migrated, in_process
from aicc.testing.tenants import Tenant, make_tenant

hypothesis_settings.register_profile("ci", deadline=None, max_examples=50)
hypothesis_settings.load_profile("ci")

_SESSION = pytest.StashKey[str]()
DURATIONS = Path(__file__).parent / "durations.json"  # scripts/test_durations.py writes it


def pytest_configure(config: pytest.Config) -> None:
    """Mark the session (`make test` gives its own token): every process a test starts from
    now on inherits the marker, xdist's workers included. A test's server starts no embedded
    registry unless the test asks (a registry each, all on port 5000, would fight for it)."""
    config.stash[_SESSION] = leftovers.mark()
    os.environ.setdefault("AICC_REGISTRY__EMBEDDED", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest files first, by their seconds in a recorded run (tests/durations.json; a new
    file counts as the median). `make test` hands out whole files (`--dist loadfile`) in this
    order (`--no-loadscope-reorder`): a long file taken last would keep the other worker idle
    to the end. The sort is stable, so each file's tests keep their order."""
    seconds: dict[str, float] = json.loads(DURATIONS.read_text())["files"]
    usual = statistics.median(seconds.values())
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], usual))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture's teardown, a run on one process kills what its tests left alive
    and fails. Under xdist `make test` checks after pytest instead (a worker killed hard runs
    no hook, and a worker's own session is not over when the others' are). Every process, a
    worker too, first removes its migrated database copy (`seeded`): the check would count it."""
    forget_migrated()
    config = session.config
    token = config.stash.get(_SESSION, None)
    if (
        token is None
        or hasattr(config, "workerinput")
        or getattr(config.option, "numprocesses", None)
    ):
        return
    found = leftovers.check(token, spare=leftovers.helpers_of(os.getpid()))
    if found is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write("\n")
        reporter.write_sep("=", "processes left by the tests", red=True)
        reporter.write_line(found)
    else:
        print(found, file=sys.stderr)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run (scripts/install-test-deps.sh installs it)."""
    server = start_postgres(tmp_path_factory.mktemp("pg"), in_memory=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One real S3-protocol server (moto's, over HTTP) with a bucket, for the whole run."""
    if not moto_installed():
        reason = f"S3 tests need moto, which is not installed: {INSTALL_HINT}"
        warnings.warn(reason, stacklevel=1)  # in the summary, not only as an 's'
        pytest.skip(reason)
    server = start_s3()
    try:
        yield server
    finally:
        server.stop()


_databases = 0


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Run the test on the embedded SQLite and on PostgreSQL, each time on a fresh database
    (dropped after the test)."""
    global _databases
    if request.param == "sqlite":
        yield None
        return
    _databases += 1
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"t{os.getpid()}_{_databases}"
    yield server.create_database(name, migrated=True)
    server.drop_database(name)


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
