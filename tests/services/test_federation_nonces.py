"""Replay protection of signed federation calls (services/federation/nonces.py): a nonce is
accepted once per site while its signed time is within the clock window, and swept after it.
Time is passed in: nothing sleeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from aicc.api.state import AppState
from aicc.services.federation import nonces
from aicc.services.federation.signing import MAX_SKEW_S, Signed
from aicc.store.tables.federation import FederationNonceRow

T0 = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def count(state: AppState) -> int:
    with state.db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(FederationNonceRow)) or 0)


def test_a_nonce_is_accepted_once_per_site_and_swept_after_the_window(
    server: tuple[TestClient, AppState],
) -> None:
    _, state = server
    first = Signed("peer", "n" * 16, T0)
    with state.db.session() as session:
        nonces.remember(session, signed=first, now=T0)
    replay = pytest.raises(nonces.Replayed, match=r"site peer signed nonce n{16} before")
    with replay, state.db.session() as session:
        nonces.remember(session, signed=first, now=T0 + timedelta(seconds=10))
    with state.db.session() as session:  # the same nonce from another site is that site's own
        nonces.remember(session, signed=Signed("other", "n" * 16, T0), now=T0)
    assert count(state) == 2
    # past the window a replay is refused as stale by its signature; the rows go on the next call
    later = T0 + timedelta(seconds=MAX_SKEW_S + 1)
    with state.db.session() as session:
        nonces.remember(session, signed=Signed("peer", "m" * 16, later), now=later)
    assert count(state) == 1
