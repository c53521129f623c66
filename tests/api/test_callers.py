"""Who a token stands for is kept a few seconds per server (`token_cache_s`, api/deps.py): a
change made through this server applies to the next request, one made through another server
(here: another connection to the same database) within `token_cache_s` (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import update

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.store.db import Database
from aicc.store.tables.tenancy import TokenRow, UserRow
from aicc.testing.polling import wait
from aicc.testing.tenants import make_tenant


def test_a_token_revoked_here_is_refused_at_once(api: TestClient) -> None:
    made = api.post("/api/v1/tokens", json={"name": "short-lived"}).json()
    mine = {"Authorization": f"Bearer {made['secret']}"}
    assert api.get("/api/v1/me", headers=mine).status_code == 200  # now kept by the server
    assert api.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
    assert api.get("/api/v1/me", headers=mine).status_code == 401


def test_a_membership_given_here_applies_to_the_next_request(api: TestClient) -> None:
    tenant = make_tenant(api, "joiner")
    project = api.post("/api/v1/projects", json={"name": "second", "org_id": tenant.org_id}).json()
    seen = {p["id"] for p in api.get("/api/v1/projects", headers=tenant.headers).json()["items"]}
    assert project["id"] not in seen
    added = api.post(f"/api/v1/projects/{project['id']}/members", json={"user_id": tenant.user_id})
    assert added.status_code in (200, 201), added.text
    seen = {p["id"] for p in api.get("/api/v1/projects", headers=tenant.headers).json()["items"]}
    assert project["id"] in seen


def test_a_change_through_another_server_applies_within_the_cache_time(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    tenant = make_tenant(api, "elsewhere")
    made = api.post("/api/v1/tokens", json={"name": "elsewhere"}, headers=tenant.headers).json()
    tokens = [tenant.headers, {"Authorization": f"Bearer {made['secret']}"}]
    for headers in tokens:
        assert api.get("/api/v1/me", headers=headers).status_code == 200
    other = Database(state.db.url)  # another server behind the balancer: this one hears nothing
    try:
        with other.session() as session:
            session.execute(
                update(TokenRow).where(TokenRow.id == made["id"]).values(revoked_at=utcnow())
            )
        changed = time.monotonic()
        with other.session() as session:
            session.execute(
                update(UserRow).where(UserRow.id == tenant.user_id).values(disabled=True)
            )
    finally:
        other.dispose()
    for headers in tokens:
        wait(
            "the change to reach this server",
            lambda h=headers: api.get("/api/v1/me", headers=h).status_code == 401,
            timeout=15,
            every=0.2,
        )
    assert time.monotonic() - changed <= state.settings.token_cache_s + 1.5
