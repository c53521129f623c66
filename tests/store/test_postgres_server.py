"""The throwaway PostgreSQL server the store tests rely on.

No skip when PostgreSQL is missing: the suite installs it first (scripts/install-test-deps.sh),
so a missing server is a broken setup and must fail loudly.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from aicc.testing import postgres
from aicc.testing.postgres import PostgresServer, start_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    srv = start_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield srv
    finally:
        srv.stop()


def _roundtrip(url: str, table: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {table} (id int PRIMARY KEY, name text)"))
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES (:id, :name)"),
                [{"id": 1, "name": "ünïcode"}, {"id": 2, "name": "b"}],
            )
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT id, name FROM {table} ORDER BY id")).all()
        return [(row[0], row[1]) for row in rows]
    finally:
        engine.dispose()


def test_socket_and_tcp_urls_reach_the_same_database(server: PostgresServer) -> None:
    assert "host=" in server.url and "127.0.0.1" in server.tcp_url
    assert _roundtrip(server.url, "via_socket") == [(1, "ünïcode"), (2, "b")]
    assert _roundtrip(server.tcp_url, "via_tcp") == [(1, "ünïcode"), (2, "b")]
    engine = sa.create_engine(server.tcp_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM via_socket")).scalar() == 2
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "aicc"
            assert conn.execute(sa.text("SHOW max_connections")).scalar() == "200"
            assert conn.execute(sa.text("SHOW fsync")).scalar() == "off"
    finally:
        engine.dispose()


def test_create_database_is_independent(server: PostgresServer) -> None:
    url = server.create_database("other_db")
    assert "/other_db?" in url
    assert _roundtrip(url, "via_socket") == [(1, "ünïcode"), (2, "b")]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "other_db"
            # A table made in the main database does not leak into this one.
            exists = conn.execute(sa.text("SELECT to_regclass('via_tcp')")).scalar()
            assert exists is None
    finally:
        engine.dispose()
    with pytest.raises(ValueError):
        server.create_database("bad; name")


def test_a_dropped_database_is_gone_even_with_a_connection_left_open(
    server: PostgresServer,
) -> None:
    """A test's database is dropped when it is over, also when its server left a connection."""
    url = server.create_database("dropped_db", migrated=True)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as left_open:
            assert left_open.execute(sa.text("SELECT count(*) FROM jobs")).scalar() == 0
            server.drop_database("dropped_db")
    except sa.exc.OperationalError:
        pass  # the open connection was cut, as the drop must
    finally:
        engine.dispose()
    names = _databases(server)
    assert "dropped_db" not in names and postgres.MIGRATED in names
    server.drop_database("dropped_db")  # again: nothing to drop is no error


def _databases(server: PostgresServer) -> set[str]:
    engine = sa.create_engine(server.url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("in_memory", [False, True], ids=["disk", "memory"])
def test_stop_leaves_no_process_or_files(tmp_path: Path, in_memory: bool) -> None:
    """On disk or in memory (the suite's server, on /dev/shm where it has room), a stopped
    server leaves nothing: no process, no data."""
    started = time.monotonic()
    srv = start_postgres(tmp_path, in_memory=in_memory)
    assert time.monotonic() - started < 30
    memory = in_memory and postgres._memory_dir() is not None
    assert srv.data_dir.is_relative_to(postgres.MEMORY_DIR) == memory
    pid = int((srv.data_dir / "postmaster.pid").read_text().split()[0])
    children = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    assert _alive(pid)
    srv.stop()
    srv.stop()  # idempotent, as atexit may call it again
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in [pid, *children]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in [pid, *children])
    assert not srv.data_dir.exists()
    assert not srv.socket_dir.exists()


def test_missing_postgres_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match=r"scripts/install-test-deps\.sh"):
        postgres.find_bin_dir("/nonexistent/postgresql/*/bin")


def test_directories_of_servers_no_one_stopped_are_swept_and_live_ones_kept(
    tmp_path: Path,
) -> None:
    """A run killed hard leaves its server's data behind; the next start removes it, never the
    directory of a server still running nor one being made."""
    gone = subprocess.Popen(["true"])
    gone.wait()

    def made(name: str, pid: int | None) -> Path:
        work = tmp_path / f"aicc-pg-{name}"
        (work / "data").mkdir(parents=True)
        if pid is not None:
            (work / "data" / "postmaster.pid").write_text(f"{pid}\n/tmp/data\n")
        return work

    now = time.time() + postgres.ABANDONED_S + 60  # as if each were made an hour ago
    stopped = made("stopped", None)
    crashed = made("crashed", gone.pid)
    running = made("running", os.getpid())
    removed = postgres.sweep_abandoned(tmp_path, now=now)
    assert sorted(removed) == sorted([stopped, crashed])
    assert running.exists() and not stopped.exists() and not crashed.exists()
    fresh = made("fresh", None)  # made just now: another run's initdb may be filling it
    assert postgres.sweep_abandoned(tmp_path) == [] and fresh.exists()
