"""OpenAI batches' states (services/serving/batches.py), on SQLite and PostgreSQL: one runner
takes a batch, a cancel before it starts ends it at once, a batch whose runner stopped ends
failed rather than be sent twice, and no status goes back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.core.tenancy import Principal
from aicc.server import ServerState
from aicc.services.common import Conflict, Invalid, utcnow
from aicc.services.jobs import openai_files
from aicc.services.serving import acting, batches
from aicc.testing.servers import in_process


@pytest.fixture
def center(tmp_path: Path, db_url: str | None) -> Iterator[tuple[TestClient, ServerState]]:
    """A server whose own batch runner is off (`batch_poll_s: 0`): the test is the runner."""
    with in_process(tmp_path / "home", db_url, gateway={"batch_poll_s": 0}) as pair:
        yield pair


def _caller(api: TestClient, state: ServerState) -> tuple[Principal, str, str]:
    """A key's caller, the key, and a batch file of its project."""
    key = api.post("/api/v1/keys", json={"name": "k"}).json()["id"]
    sha, size = openai_files.keep(state.blobs, b'{"custom_id": "a"}\n', max_bytes=1000)
    with state.db.session() as session:
        who = acting.principal(session, key)
        made = openai_files.create(
            session, who, key_id=key, sha256=sha, size=size, filename="in.jsonl", purpose="batch"
        )
    return who, key, made.id


def _batch(state: ServerState, who: Principal, key: str, file_id: str) -> str:
    with state.db.session() as session:
        return batches.create(
            session,
            who,
            key_id=key,
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
        ).id


def test_one_runner_takes_a_batch_and_a_stopped_one_fails_it(
    center: tuple[TestClient, ServerState],
) -> None:
    api, state = center
    who, key, file_id = _caller(api, state)
    batch_id = _batch(state, who, key, file_id)
    now = utcnow()
    with state.db.session() as session:
        taken = batches.claim(session, now=now, hold_s=60)
    assert taken is not None and taken.id == batch_id and taken.route == "chat"
    with state.db.session() as session:
        assert batches.claim(session, now=now, hold_s=60) is None  # held
        assert batches.start(session, batch_id, total=1, now=now, hold_s=60) == "in_progress"
    later = now + timedelta(seconds=61)  # its runner stopped renewing: the server restarted
    with state.db.session() as session:
        assert batches.claim(session, now=later, hold_s=60) is None
    with state.db.session() as session:
        shown = batches.get(session, who, batch_id)
    assert shown.status == "failed" and shown.errors is not None
    assert "submit it again" in shown.errors["data"][0]["message"]
    with state.db.session() as session, pytest.raises(Conflict):
        batches.cancel(session, who, batch_id)  # ended: no way back


def test_a_cancel_before_a_runner_took_it_ends_it_at_once(
    center: tuple[TestClient, ServerState],
) -> None:
    api, state = center
    who, key, file_id = _caller(api, state)
    batch_id = _batch(state, who, key, file_id)
    with state.db.session() as session:
        assert batches.cancel(session, who, batch_id).status == "cancelled"
        assert batches.cancel(session, who, batch_id).status == "cancelled"  # again: harmless
    with state.db.session() as session:
        assert batches.claim(session, now=utcnow(), hold_s=60) is None
    with state.db.session() as session, pytest.raises(Invalid):
        batches.create(
            session,
            who,
            key_id=key,
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="1h",
        )
