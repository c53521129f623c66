"""A consistent copy of the database while the server runs, and putting one back.

SQLite: the online backup API (`sqlite3.Connection.backup`) in one step, which reads the whole
database under one read transaction; under WAL writers go on meanwhile. Never a file copy of a
live database, which can tear a page or miss the WAL.

PostgreSQL: `pg_dump --format=custom` from the server's own binaries, not a logical dump through
SQLAlchemy: PostgreSQL's tool restores exactly what was there (sequences, constraints, indexes,
types) and `pg_restore` takes it into a newer server. The dump reads a snapshot that a
transaction here exported (`pg_export_snapshot`), and that same transaction is what the backup
reads to list the blobs the dump refers to: database and blob list are one moment.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aicc.store.db import MIGRATIONS

PG_BINARIES = "/usr/lib/postgresql/*/bin"  # Debian keeps them per major version, off PATH


class DumpError(RuntimeError):
    """The database could not be copied or put back; the message says what to install or fix."""


@dataclass
class Snapshot:
    """The database as of one moment: `session` reads it, `path` holds its dump."""

    session: Session
    path: Path
    dialect: str
    revision: str | None


def revisions() -> list[str]:
    """The schema revisions this code knows, oldest first."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _revision(session: Session) -> str | None:
    return session.execute(text("SELECT version_num FROM alembic_version")).scalar()


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise DumpError(f"{url} is not a SQLite database file")
    return Path(database)


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """A database that cannot be reached is a DumpError naming it (without its password)."""
    try:
        yield
    except OperationalError as err:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(err.orig or err).strip().splitlines()[0]
        raise DumpError(f"cannot reach the database {where}: {reason}") from None


@contextmanager
def snapshot(url: str, workdir: Path) -> Iterator[Snapshot]:
    """Copy the database at `url` into `workdir` and yield a session reading that same moment."""
    with reaching(url):
        yield from _snapshot(url, workdir)


def _snapshot(url: str, workdir: Path) -> Iterator[Snapshot]:
    if url.startswith("sqlite"):
        yield from _sqlite_snapshot(sqlite_path(url), workdir / "aicc.db")
    elif url.startswith("postgresql"):
        yield from _pg_snapshot(url, workdir / "aicc.pgdump")
    else:
        raise DumpError(f"cannot back up a {url.split(':', 1)[0]} database: SQLite or PostgreSQL")


def _sqlite_snapshot(source: Path, copy: Path) -> Iterator[Snapshot]:
    if not source.is_file():
        raise DumpError(f"there is no database at {source}")
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(copy)
    try:
        live.backup(target)  # all pages in one step: one read transaction, one moment
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
    finally:
        target.close()
        live.close()
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with Session(engine) as session:
            yield Snapshot(session, copy, "sqlite", _revision(session))
    finally:
        engine.dispose()


def _pg_snapshot(url: str, dump: Path) -> Iterator[Snapshot]:
    engine = create_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            conn.execute(text("SET TRANSACTION READ ONLY"))
            exported = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
            tool = pg_tool("pg_dump", major)
            _run([tool, "--format=custom", f"--snapshot={exported}", "--file", str(dump)], url)
            with Session(bind=conn) as session:
                yield Snapshot(session, dump, "postgresql", _revision(session))
    finally:
        engine.dispose()


def pg_tool(name: str, major: int | None = None) -> str:
    """`pg_dump` or `pg_restore`: the server's major version's under Debian's layout, else the one
    on PATH, else the newest installed; a DumpError naming the package when there is none."""
    if major is not None:
        exact = Path(PG_BINARIES.replace("*", str(major))) / name
        if exact.is_file():
            return str(exact)
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        match = re.search(r"/postgresql/(\d+)/", path)
        return int(match.group(1)) if match else 0

    installed = sorted(glob.glob(f"{PG_BINARIES}/{name}"), key=version)
    if installed:
        return installed[-1]
    package = f"postgresql-client-{major}" if major else "postgresql-client"
    raise DumpError(
        f"{name} is not installed; a PostgreSQL backup needs it: install the PostgreSQL client "
        f"of the server's version (Debian and Ubuntu: apt install {package})"
    )


def _run(argv: list[str], url: str) -> None:
    """Run a PostgreSQL tool on the database at `url`: the connection goes in libpq's variables,
    so the password never shows in a process list."""
    parsed = make_url(url)
    env = dict(os.environ)
    query = {k: v if isinstance(v, str) else v[0] for k, v in parsed.query.items()}
    values = {
        "PGHOST": parsed.host or query.get("host"),
        "PGPORT": str(parsed.port) if parsed.port else query.get("port"),
        "PGUSER": parsed.username or query.get("user"),
        "PGPASSWORD": parsed.password if parsed.password is not None else None,
        "PGDATABASE": parsed.database,
        "PGSSLMODE": query.get("sslmode"),
    }
    env.update({k: str(v) for k, v in values.items() if v})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tool = Path(argv[0]).name
        raise DumpError(f"{tool} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def is_empty(url: str) -> bool:
    """Whether the database holds no tables (a SQLite file that does not exist holds none)."""
    if url.startswith("sqlite") and not sqlite_path(url).exists():
        return True
    engine = create_engine(url)
    try:
        with reaching(url):
            return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def wipe(url: str) -> None:
    """Remove what the database holds, for a restore told to overwrite it."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
        with engine.begin() as conn:  # and the triggers' functions (migration 0037's)
            for (signature,) in conn.execute(_OWN_FUNCTIONS):
                conn.execute(text(f"DROP FUNCTION IF EXISTS {signature} CASCADE"))
    finally:
        engine.dispose()


# The functions of the current schema that the database's user created (not an extension's).
_OWN_FUNCTIONS = text(
    "SELECT p.oid::regprocedure::text FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = current_schema() AND p.proowner = "
    "(SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
)


def check_kind(url: str, dialect: str) -> None:
    """A dump goes back into the kind of database it came from."""
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    if kind != dialect:
        raise DumpError(
            f"the archive holds a {dialect} database and the target is {kind}: restore into "
            f"a {dialect} database (set db, or leave it unset for SQLite in the home)"
        )


def load(url: str, dump: Path, dialect: str) -> None:
    """Put a dump back into the empty database at `url` (same kind as the dump's)."""
    check_kind(url, dialect)
    if dialect == "sqlite":
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        check = sqlite3.connect(dump)
        try:
            if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                raise DumpError("the archive's SQLite database fails its integrity check")
        finally:
            check.close()
        shutil.copyfile(dump, f"{path}.restoring")
        os.chmod(f"{path}.restoring", 0o600)
        os.replace(f"{path}.restoring", path)
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()
    tool = pg_tool("pg_restore", major)
    args = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    _run([tool, *args, "--dbname", make_url(url).database or "", str(dump)], url)
