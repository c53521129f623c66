"""`PUT /api/v1/users/{id}/password` (issue 58: no password could be set after a user existed,
so `aicc user create` made users who could never sign in to the portal): an organization admin
sets one of theirs, the user then signs in to the portal with it and changes it with the old
one; a wrong old one is refused; another organization's user is a 404; every change is
audited without the password."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from aicc.testing.tenants import make_tenant


def _signs_in(api: TestClient, name: str, password: str) -> bool:
    """Whether the portal's sign-in form takes `name` and `password`, as a browser posts it."""
    browser = TestClient(api.app, base_url="http://testserver")
    browser.get("/sign-in")
    form = {"csrf": browser.cookies.get("aicc_csrf") or "", "username": name}
    answer: httpx.Response = browser.post(
        "/sign-in", data={**form, "password": password}, follow_redirects=False
    )
    return answer.status_code == 303


def _put(
    api: TestClient, user_id: str, body: dict[str, str], headers: dict[str, str]
) -> httpx.Response:
    return api.put(f"/api/v1/users/{user_id}/password", json=body, headers=headers)


def test_set_change_sign_in_and_tenancy(api: TestClient) -> None:
    boss = make_tenant(api, "pw-acme", role="org_admin")
    other = make_tenant(api, "pw-globex", role="org_admin")
    made = api.post("/api/v1/users", json={"name": "pw-ann", "org_id": boss.org_id}).json()
    assert not _signs_in(api, "pw-ann", "first-secret-1")

    answer = _put(api, made["id"], {"password": "first-secret-1"}, boss.headers)
    assert answer.status_code == 200, answer.text
    assert "first-secret-1" not in answer.text
    assert _signs_in(api, "pw-ann", "first-secret-1")

    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": made["id"]}).json()
    ann = {"Authorization": f"Bearer {token['secret']}"}
    wrong = _put(api, made["id"], {"password": "second-secret-2", "old_password": "nope"}, ann)
    assert wrong.status_code == 422, wrong.text
    assert "not your current password" in wrong.text
    missing = _put(api, made["id"], {"password": "second-secret-2"}, ann)
    assert missing.status_code == 422
    body = {"password": "second-secret-2", "old_password": "first-secret-1"}
    assert _put(api, made["id"], body, ann).status_code == 200
    assert _signs_in(api, "pw-ann", "second-secret-2")
    assert not _signs_in(api, "pw-ann", "first-secret-1")

    # Another organization's admin: the user does not exist for them; a member sets no one's.
    foreign = _put(api, made["id"], {"password": "stolen-secret-3"}, other.headers)
    assert foreign.status_code == 404, foreign.text
    assert _put(api, boss.user_id, {"password": "stolen-secret-3"}, ann).status_code == 403
    short = _put(api, made["id"], {"password": "short"}, boss.headers)
    assert short.status_code == 422
    assert _signs_in(api, "pw-ann", "second-secret-2")

    entries = api.get("/api/v1/audit?action=user.password").json()["items"]
    assert [e["detail"]["by"] for e in entries if e["object_id"] == made["id"]] == [
        "self",
        "admin",
    ]
    assert "secret-" not in str(entries)
