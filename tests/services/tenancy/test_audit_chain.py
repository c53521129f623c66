"""The audit log as a keyed hash chain: sealed by the leader after the commit, walked by
`aicc audit verify`; an entry changed, removed or slipped in shows (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, func, select, update
from typer.testing import CliRunner

from aicc.api.state import AppState
from aicc.cli.main import app
from aicc.config import Settings
from aicc.core.tenancy import Principal
from aicc.server import build
from aicc.services.tenancy import audit, tenancy, views
from aicc.store.sealing import Sealer
from aicc.store.tables.tenancy import AuditRow, UserRow
from aicc.testing.polling import wait
from aicc.testing.servers import over_http, seeded


@pytest.fixture
def state(tmp_path: Path, db_url: str | None) -> Iterator[AppState]:
    """A server's state with its loops not started: the test seals when it means to."""
    seeded(tmp_path / "home", db_url)
    _, built = build(Settings(home=tmp_path / "home", db=db_url))
    try:
        yield built
    finally:
        built.db.dispose()


def _admin(state: AppState) -> Principal:
    with state.db.reader() as session:
        user = session.scalar(select(UserRow).where(UserRow.name == "admin"))
        assert user is not None
        return tenancy.principal_of(session, user)


def _write(state: AppState, n: int, who: str = "t") -> None:
    for i in range(n):
        with state.db.session() as session:
            audit.record(session, None, "test.act", "thing", f"{who}-{i}", detail={"i": i})


def _seal(state: AppState) -> int:
    with state.db.session() as session:
        return audit.seal(session, state.sealer)


def _verify(state: AppState, sealer: Sealer | None = None) -> views.AuditVerification:
    with state.db.reader() as session:
        return audit.verify(session, _admin(state), sealer or state.sealer)


def test_a_sealed_log_verifies_and_any_change_shows(state: AppState) -> None:
    _write(state, 5)
    _seal(state)
    _write(state, 3, "late")  # committed after the seal: pending until the next
    first = _verify(state)
    assert first.intact and first.pending == 3 and first.verified == first.last_seq
    _seal(state)
    whole = _verify(state)
    assert whole.intact and whole.pending == 0 and whole.verified == first.verified + 3
    assert whole.last_hash and whole.last_hash != first.last_hash

    # another key cannot make the chain verify: the hashes are keyed
    other = Sealer(Fernet.generate_key())
    assert not _verify(state, other).intact

    # an entry's detail changed in the database
    with state.db.session() as session:
        target = session.scalar(select(AuditRow.id).where(AuditRow.object_id == "t-2"))
        seq = session.scalar(select(AuditRow.seq).where(AuditRow.id == target))
        session.execute(update(AuditRow).where(AuditRow.id == target).values(detail={"i": 99}))
    changed = _verify(state)
    assert changed.broken_at == seq and "does not match its hash" in (changed.reason or "")
    assert changed.verified == seq - 1
    with state.db.session() as session:
        session.execute(update(AuditRow).where(AuditRow.id == target).values(detail={"i": 2}))
    assert _verify(state).intact  # put back as it was: whole again

    # an entry removed
    with state.db.session() as session:
        session.execute(delete(AuditRow).where(AuditRow.object_id == "late-0"))
    removed = _verify(state)
    assert not removed.intact and "missing" in (removed.reason or "")


def test_concurrent_writers_are_chained_in_one_line(state: AppState) -> None:
    threads = [threading.Thread(target=_write, args=(state, 25, f"w{n}")) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _seal(state)
    found = _verify(state)
    with state.db.reader() as session:
        total = session.scalar(select(func.count()).select_from(AuditRow))
    assert found.intact and found.pending == 0 and found.verified == total >= 100


def test_the_leader_seals_and_the_cli_verifies(tmp_path: Path) -> None:
    with over_http(tmp_path / "home") as (url, token, state):
        env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
        made = CliRunner().invoke(app, ["org", "create", "acme"], env=env)
        assert made.exit_code == 0, made.output

        def sealed() -> bool:
            with state.db.reader() as session:
                pending = select(func.count()).where(AuditRow.seq.is_(None))
                return session.scalar(pending.select_from(AuditRow)) == 0

        wait("the leader to seal the audit log", sealed, timeout=10)
        good = CliRunner().invoke(app, ["audit", "verify"], env=env)
        assert good.exit_code == 0, good.output
        assert "intact" in good.stdout and "yes" in good.stdout
        listed = CliRunner().invoke(app, ["audit", "--json"], env=env)
        assert listed.exit_code == 0 and "org.create" in listed.stdout
        with state.db.session() as session:
            session.execute(update(AuditRow).values(user_name="someone-else"))
        bad = CliRunner().invoke(app, ["audit", "verify"], env=env)
        assert bad.exit_code == 1 and "the audit log is broken at entry 1" in bad.output
