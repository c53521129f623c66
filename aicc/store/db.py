"""The database: SQLite (WAL) under $AICC_HOME by default, PostgreSQL with a URL.

`open_database()` is the only place engines are made, and it always migrates to the newest schema
first, so a fresh home and an old one behave the same.

SQLite runs with `synchronous=NORMAL` under WAL: a commit survives a crash of the process, but
the last commits may be lost on a power failure (PostgreSQL, for production, loses none).
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, exc
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_S = 30.0  # how long a statement waits for SQLite's lock before it fails


def database_url(url: str | None, home: Path) -> str:
    """`None` -> SQLite in the home; `postgresql://` gets the psycopg 3 driver."""
    if not url:
        return f"sqlite:///{home / 'aicc.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take SQLite's write lock up front: a deferred BEGIN lets two writers both read,
    then one fails on upgrade. Readers stay deferred, so under WAL they never wait."""
    if conn.get_execution_options().get("aicc_readonly", False):
        conn.exec_driver_sql("BEGIN")
        return
    try:
        begin_immediate(conn.connection.driver_connection)
    except sqlite3.Error as err:  # as SQLAlchemy raises it: callers catch its classes (503)
        raise exc.DBAPIError.instance("BEGIN IMMEDIATE", None, err, sqlite3.Error) from err


def begin_immediate(raw: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock by trying again every few milliseconds.
    SQLite's own busy handler sleeps up to 100 ms between tries, so a writer that came behind
    a burst of others waited long after the lock was free: at 200 submits/s its waits for the
    lock had a p99 of 180-330 ms, and 3-5 ms this way (BENCHMARKS.md, submit path)."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        delay, give_up = 0.0005, time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                # the primary code: Python reports extended ones (SQLITE_BUSY_RECOVERY while
                # another connection recovers the WAL after a crash)
                busy = err.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() > give_up:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 0.004)
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    event.listen(engine, "checkout", _ping_if_idle(engine))
    event.listen(engine, "checkin", _used)
    return engine


ALIVE_S = 0.5  # a pooled connection given back this recently is taken as alive, unpinged


def _used(_dbapi: Any, record: Any) -> None:
    record.info["given_back"] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """A pessimistic check of a pooled PostgreSQL connection before use, as `pool_pre_ping`,
    but only of one idle for `ALIVE_S` or more (HikariCP's bypass window): a submit's
    transaction paid a round trip for the ping, while a connection given back moments ago has
    just answered. A dead one raises DisconnectionError, and the pool connects anew; a restart
    within the window fails the statement instead, which invalidates the whole pool (503)."""
    dialect = engine.dialect

    def check(dbapi: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get("given_back")
        if given_back is not None and time.monotonic() - given_back < ALIVE_S:
            return
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi, None):
                raise exc.DisconnectionError(str(err)) from err
            raise

    return check


def _no_pysqlite_autobegin(engine: Engine) -> None:
    """Let SQLAlchemy, not the driver, issue BEGIN (needed for BEGIN IMMEDIATE above)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (Alembic `upgrade head`). A database already at
    it is left as it is, without Alembic loading every revision's script again to find that
    out (the test suite opens a database at the newest revision for each of its ~1,000 servers)."""
    from alembic import command
    from alembic.config import Config

    head = _head()
    if head is not None and _revision(url) == head:
        return
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


@functools.cache
def _head() -> str | None:
    """The newest revision of the migrations shipped with this code (read once a process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _revision(url: str) -> str | None:
    """The revision the database at `url` is at (None: none yet, a new database)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


class Database:
    """An engine plus a session factory; `session()` is one transaction, committed on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        if url.startswith("sqlite"):
            _no_pysqlite_autobegin(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(aicc_readonly=True), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def on_commit(self, tables: set[str], callback: Callable[[], None]) -> None:
        """Call `callback` after each commit, in this process, that wrote a row of one of
        `tables` (by the unit of work or by an UPDATE or DELETE statement): what a server keeps
        in memory of them is then out of date."""

        def flushed(session: Session, _context: object, _rows: object) -> None:
            for row in (*session.new, *session.dirty, *session.deleted):
                table = getattr(type(row), "__tablename__", None)
                if table in tables:
                    session.info[id(callback)] = True

        def executed(state: ORMExecuteState) -> None:
            table = getattr(state.statement, "table", None)
            writes = state.is_update or state.is_delete
            if writes and isinstance(table, Table) and table.name in tables:
                state.session.info[id(callback)] = True

        def committed(session: Session) -> None:
            if session.info.pop(id(callback), False):
                callback()

        def rolled_back(session: Session) -> None:
            session.info.pop(id(callback), None)

        event.listen(self._sessions, "before_flush", flushed)
        event.listen(self._sessions, "do_orm_execute", executed)
        event.listen(self._sessions, "after_commit", committed)
        event.listen(self._sessions, "after_soft_rollback", lambda s, _t: rolled_back(s))

    def on_marked_commit(self, mark: str, callback: Callable[[], None]) -> None:
        """Call `callback` once after each commit, in this process, of a transaction in which
        a service set `session.info[mark]` (services/changes.py `changed`). Not after a
        rollback, nor for what a savepoint rolled back was marked in it; not when a savepoint is
        released (the transaction goes on), only when the transaction commits."""

        def began(session: Session, transaction: SessionTransaction) -> None:
            if transaction.nested:  # what to go back to if the savepoint rolls back
                session.info[(mark, id(transaction))] = session.info.get(mark, False)

        def committed(session: Session) -> None:
            if not session.in_nested_transaction() and session.info.pop(mark, False):
                callback()

        def rolled_back(session: Session) -> None:  # before the transaction rolled back closes
            savepoint = session.get_nested_transaction()
            if savepoint is None:
                session.info.pop(mark, None)
            else:
                session.info[mark] = session.info.pop((mark, id(savepoint)), False)

        def ended(session: Session, transaction: SessionTransaction) -> None:
            session.info.pop((mark, id(transaction)), None)  # a savepoint released

        event.listen(self._sessions, "after_transaction_create", began)
        event.listen(self._sessions, "after_commit", committed)
        event.listen(self._sessions, "after_rollback", rolled_back)
        event.listen(self._sessions, "after_transaction_end", ended)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A transaction that only reads (SQLite: no write lock). Writing in it may fail."""
        with self._readers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str | None, home: Path) -> Database:
    resolved = database_url(url, home)
    if resolved.startswith("sqlite"):
        home.mkdir(parents=True, exist_ok=True)
    migrate(resolved)
    return Database(resolved)
