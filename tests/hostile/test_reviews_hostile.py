"""Another tenant against data set ratings (issue 41), on SQLite and PostgreSQL: tenant B rates
and reads the reviews of A's private set by every way of naming it (its name, `ORG/PROJECT`, A's
project's id and name) and gets the 404 of a set that does not exist; a model or template row is
never rated as a data set; absurd ratings and texts are a 422, not a 500; and B's listings,
sorted by rating or use, never show A's private set. Nothing B sent is recorded."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.services.models import models
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.tables.tenancy import UserRow
from aicc.testing.datasets import push
from aicc.testing.tenants import Tenant

D = "/api/v1/datasets"


def detail(answer: Any) -> str:
    return str(answer.json().get("detail"))


def test_another_tenant_cannot_rate_or_read_a_private_set_by_any_name(
    server: tuple[TestClient, AppState], tenant_b: Tenant
) -> None:
    api, state = server
    push(api, "secret-set", {"a.csv": b"x\n1\n"})
    assert api.put(f"{D}/secret-set/reviews", json={"rating": 5, "text": "ours"}).status_code == 200
    me = api.get("/api/v1/me").json()
    org, project = me["org"]["name"], api.get(f"{D}/secret-set").json()["project_id"]
    b = tenant_b.headers
    for query in ("", f"?project={org}/default", f"?project={project}", "?project=default"):
        for name in ("secret-set", "no-such-set"):
            path = f"{D}/{name}/reviews{query}"
            put = api.put(path, json={"rating": 1, "text": "defaced"}, headers=b)
            got = api.get(path, headers=b)
            assert (put.status_code, got.status_code) == (404, 404), (path, put.text)
        # A's set and a made-up one look the same from outside.
        hidden = api.get(f"{D}/secret-set/reviews{query}", headers=b)
        missing = api.get(f"{D}/no-such-set/reviews{query}", headers=b)
        assert detail(hidden).replace("secret-set", "X") == detail(missing).replace(
            "no-such-set", "X"
        )
    for sort in ("rating", "use", "name"):
        for scope in ("visible", "public"):
            seen = api.get(f"{D}?scope={scope}&sort={sort}", headers=b).json()["items"]
            assert "secret-set" not in {d["name"] for d in seen}
    shown = api.get(f"{D}/secret-set/reviews").json()
    assert [(r["rating"], r["text"]) for r in shown["reviews"]] == [(5, "ours")]
    by_b = [
        e
        for e in api.get("/api/v1/audit", params={"action": "review.put"}).json()["items"]
        if e["user_id"] == tenant_b.user_id
    ]
    assert by_b == []

    # A model (or a published template) is a row of the same table: never rated as a data set,
    # by its owner nor by anyone else, and a data set is never rated as a model.
    with state.db.session() as session:
        user = session.get(UserRow, tenant_b.user_id)
        assert user is not None
        models.register(
            session, principal_of(session, user), state.chunks, "b-model", [("m.bin", b"w")]
        )
    for who in (b, {}):
        answer = api.put(f"{D}/b-model/reviews", json={"rating": 3}, headers=who)
        assert answer.status_code == 404, answer.text
    assert api.put("/api/v1/models/secret-set/reviews", json={"rating": 3}).status_code == 404
    assert api.get("/api/v1/models/b-model/reviews", headers=b).json()["ratings"] == 0


ABSURD = [
    '{"rating": 5e-324}',
    '{"rating": 1e308}',
    '{"rating": NaN}',
    '{"rating": Infinity}',
    '{"rating": -1}',
    '{"rating": 9223372036854775808}',
    '{"rating": [5]}',
    '{"rating": {"stars": 5}}',
    '{"rating": 5, "text": "' + "x" * 2001 + '"}',
    '{"rating": 5, "text": 5}',
    '{"rating": 5, "text": "a\\u0000b"}',
    '{"rating": 5, "text": "\\ud800"}',
    '{"rating": 5, "user_id": "usr_someone_else"}',
    "{}",
    "[]",
]


def test_absurd_ratings_and_texts_are_a_422_never_a_500(api: TestClient, tenant_b: Tenant) -> None:
    """JSON as a hostile client writes it (NaN and Infinity are not JSON, yet parsed), on a
    public set B may rate: each refused, and nothing recorded; an order that is not one is a
    422 too."""
    push(api, "open-set", {"a.csv": b"x\n1\n"}, visibility="public")
    headers = {**tenant_b.headers, "Content-Type": "application/json"}
    for body in ABSURD:
        answer = api.put(f"{D}/open-set/reviews", content=body, headers=headers)
        assert answer.status_code == 422, (body[:80], answer.text)
    assert api.get(f"{D}/open-set/reviews").json()["ratings"] == 0
    listed = api.get(f"{D}?scope=public&sort=rating;drop", headers=tenant_b.headers)
    assert listed.status_code == 422
