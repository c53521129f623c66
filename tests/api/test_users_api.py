"""`PATCH /api/v1/users/{id}`: disabling a user stops their token at once, enabling brings it
back; org admins only in their organization and never a center admin; nobody themselves
(SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.testing.tenants import Tenant, make_tenant

# A body the route's model refuses is refused before the user is looked up: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _patch(api: TestClient, user_id: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    return api.patch(f"/api/v1/users/{user_id}", json=body, headers=headers or {})


def test_a_disabled_users_token_is_refused_until_they_are_enabled(
    api: TestClient, tenant_b: Tenant
) -> None:
    assert api.get("/api/v1/me", headers=tenant_b.headers).status_code == 200
    answer = _patch(api, tenant_b.user_id, {"disabled": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True and answer.json()["id"] == tenant_b.user_id
    assert api.get("/api/v1/me", headers=tenant_b.headers).status_code == 401
    jobs = api.post("/api/v1/jobs", json={"command": "true"}, headers=tenant_b.headers)
    assert jobs.status_code == 401
    listed = {u["id"]: u["disabled"] for u in api.get("/api/v1/users").json()["items"]}
    assert listed[tenant_b.user_id] is True
    assert api.get(f"/api/v1/users/{tenant_b.user_id}").json()["disabled"] is True

    again = _patch(api, tenant_b.user_id, {"disabled": False})
    assert again.status_code == 200 and again.json()["disabled"] is False
    me = api.get("/api/v1/me", headers=tenant_b.headers)
    assert me.status_code == 200 and me.json()["user"]["disabled"] is False
    actions = [e["action"] for e in api.get("/api/v1/audit?limit=5").json()["items"]]
    assert actions[:2] == ["user.enable", "user.disable"]


def test_org_admins_disable_only_their_own_organizations_users(
    api: TestClient, tenant_b: Tenant
) -> None:
    acme = make_tenant(api, "acme", role="org_admin")
    boss = acme.headers
    ann = api.post(
        "/api/v1/users", json={"name": "ann", "role": "member", "org_id": acme.org_id}
    ).json()
    operator = api.post(
        "/api/v1/users", json={"name": "acme-operator", "role": "admin", "org_id": acme.org_id}
    ).json()
    center_admin = api.get("/api/v1/me").json()["user"]

    # Another organization's users, and unknown ids, do not exist for the org admin.
    for user_id in (tenant_b.user_id, center_admin["id"], "usr_nope"):
        answer = _patch(api, user_id, {"disabled": True}, boss)
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == f"user {user_id} not found"
    # A center admin in the org admin's own organization is beyond it.
    beyond = _patch(api, operator["id"], {"disabled": True}, boss)
    assert beyond.status_code == 403
    assert beyond.json()["detail"] == "only center admins disable center admins"
    assert api.get("/api/v1/me", headers=tenant_b.headers).status_code == 200
    disabled = {u["name"] for u in api.get("/api/v1/users").json()["items"] if u["disabled"]}
    assert disabled == set()

    # Its own organization's member: yes.
    assert _patch(api, ann["id"], {"disabled": True}, boss).json()["disabled"] is True
    mine = api.get("/api/v1/users", headers=boss).json()["items"]
    assert {u["name"]: u["disabled"] for u in mine}["ann"] is True


def test_nobody_disables_themselves_and_members_disable_no_one(
    api: TestClient, tenant_b: Tenant
) -> None:
    me = api.get("/api/v1/me").json()["user"]
    for user_id, headers in ((me["id"], None), (tenant_b.user_id, tenant_b.headers)):
        answer = _patch(api, user_id, {"disabled": True}, headers)
        assert answer.status_code == 409, answer.text
        assert answer.json()["detail"] == "you cannot disable yourself; another administrator must"
    colleague = api.post(
        "/api/v1/users", json={"name": "colleague", "org_id": tenant_b.org_id}
    ).json()
    member = _patch(api, colleague["id"], {"disabled": True}, tenant_b.headers)
    assert member.status_code == 403
    assert member.json()["detail"] == "only organization admins disable users"
    assert api.get("/api/v1/me").status_code == 200
    assert api.get("/api/v1/me", headers=tenant_b.headers).status_code == 200


@sqlite_only
def test_the_body_is_checked(api: TestClient, tenant_b: Tenant) -> None:
    for body in ({}, {"disabled": "yes"}, {"disabled": 1}, {"disabled": True, "role": "admin"}):
        answer = _patch(api, tenant_b.user_id, body)
        assert answer.status_code == 422, (body, answer.text)
    assert api.get("/api/v1/me", headers=tenant_b.headers).status_code == 200
