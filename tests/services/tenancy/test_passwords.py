"""Password hashes: Argon2id with its parameters stored, and older hashes (scrypt, or weaker
parameters) replaced at the owner's next sign-in (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.core.tenancy import Role
from aicc.services.common import utcnow
from aicc.services.tenancy import passwords, sessions, tenancy
from aicc.store.tables.tenancy import UserRow


def _stored(state: AppState, user_id: str) -> str:
    with state.db.reader() as session:
        user = session.get(UserRow, user_id)
        assert user is not None and user.password_hash is not None
        return user.password_hash


def _set(state: AppState, user_id: str, stored: str) -> None:
    with state.db.session() as session:
        user = session.get(UserRow, user_id)
        assert user is not None
        user.password_hash = stored


def _sign_in(state: AppState, password: str) -> bool:
    with state.db.session() as session:
        started = sessions.sign_in(
            session, username="ann", password=password, client="10.0.0.9", now=utcnow()
        )
        return started is not None


@pytest.fixture
def ann(server: tuple[TestClient, AppState]) -> tuple[AppState, str]:
    _, state = server
    with state.db.session() as session:
        org = tenancy.create_org(session, None, name="acme").id
        user = tenancy.create_user(
            session, None, name="ann", role=Role.MEMBER, org_id=org, password="correct horse"
        )
        return state, user.id


def test_a_new_password_is_kept_as_argon2id_with_its_parameters(ann: tuple[AppState, str]) -> None:
    state, user_id = ann
    stored = _stored(state, user_id)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "correct horse" not in stored
    assert passwords.check_password("correct horse", stored)
    assert not passwords.check_password("correct horse!", stored)
    assert not passwords.check_password("correct horse", "$argon2id$broken")
    assert not passwords.needs_rehash(stored)


def test_an_scrypt_hash_becomes_argon2id_at_the_next_sign_in(ann: tuple[AppState, str]) -> None:
    state, user_id = ann
    salt = os.urandom(16)
    digest = hashlib.scrypt(b"correct horse", salt=salt, n=2**14, r=8, p=1)
    legacy = f"scrypt${salt.hex()}${digest.hex()}"
    _set(state, user_id, legacy)

    assert not _sign_in(state, "wrong")
    assert _stored(state, user_id) == legacy  # a failed sign-in changes nothing
    assert _sign_in(state, "correct horse")
    upgraded = _stored(state, user_id)
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert _sign_in(state, "correct horse") and _stored(state, user_id) == upgraded


def test_weaker_parameters_are_raised_at_the_next_sign_in(ann: tuple[AppState, str]) -> None:
    state, user_id = ann
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    _set(state, user_id, weak.hash("correct horse"))
    assert passwords.needs_rehash(_stored(state, user_id))
    assert _sign_in(state, "correct horse")
    assert _stored(state, user_id).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
