"""Token scopes: a token may be limited to reads, or to the writes of jobs, data or
deployments; every write route needs a scope beyond `read`, and a refusal says which."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from aicc.api.scopes import needed_scope
from aicc.api.state import AppState
from aicc.core.tenancy import Scope
from aicc.services.common import utcnow
from aicc.services.tenancy import sessions

# What the OpenAPI document and `needed_scope` say is the same on either database.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# POSTs that change nothing: an estimate, a data set's read-only SQL query
READ_ONLY_POSTS = {
    "/api/v1/estimate",
    "/api/v1/templates/{name}/estimate",
    "/api/v1/datasets/{name}/versions/{number}/query",
}


def _token(api: TestClient, *scopes: str) -> dict[str, str]:
    body = {"name": "-".join(scopes) or "full", **({"scopes": list(scopes)} if scopes else {})}
    made = api.post("/api/v1/tokens", json=body)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['secret']}"}


def _refusal(answer: httpx.Response, needed: str) -> None:
    assert answer.status_code == 403, answer.text
    assert f"it needs `{needed}`" in answer.json()["detail"], answer.text


JOB = {"command": "true", "resources": {"cpu": "100m", "memory": "64MiB"}}
SCENARIO = {"scenario": {"scenario": "llm-lora", "params": 7e9, "tokens": 1e8}}


def test_a_read_only_token_reads_and_changes_nothing(api: TestClient) -> None:
    read = _token(api, "read")
    assert api.get("/api/v1/jobs", headers=read).status_code == 200
    assert api.post("/api/v1/estimate", json=SCENARIO, headers=read).status_code == 200
    _refusal(api.post("/api/v1/jobs", json=JOB, headers=read), "jobs")
    _refusal(api.post("/api/v1/datasets", json={"name": "d"}, headers=read), "data")
    _refusal(api.post("/api/v1/tokens", json={"name": "more"}, headers=read), "all")
    assert api.get("/api/v1/jobs").json()["items"] == []


def test_each_scope_writes_only_its_own(api: TestClient) -> None:
    jobs = _token(api, "jobs")
    assert api.post("/api/v1/jobs", json=JOB, headers=jobs).status_code == 201
    _refusal(api.post("/api/v1/datasets", json={"name": "d"}, headers=jobs), "data")
    _refusal(api.post("/api/v1/orgs", json={"name": "x"}, headers=jobs), "all")
    data = _token(api, "data")
    assert api.post("/api/v1/datasets", json={"name": "d"}, headers=data).status_code == 201
    _refusal(api.post("/api/v1/keys", json={"name": "k"}, headers=data), "deployments")
    both = _token(api, "jobs", "deployments")
    assert api.post("/api/v1/keys", json={"name": "k"}, headers=both).status_code == 201
    assert api.post("/api/v1/jobs", json=JOB, headers=both).status_code == 201
    full = _token(api)
    assert api.post("/api/v1/orgs", json={"name": "acme"}, headers=full).status_code == 201

    listed = {t["name"]: t["scopes"] for t in api.get("/api/v1/tokens").json()["items"]}
    assert listed["full"] == ["all"] and listed["jobs-deployments"] == ["deployments", "jobs"]


def test_scopes_are_checked_when_the_token_is_made(api: TestClient) -> None:
    for scopes in (["all", "read"], ["root"], []):
        answer = api.post("/api/v1/tokens", json={"name": "t", "scopes": scopes})
        assert answer.status_code == 422 if scopes != [] else answer.status_code == 201
    made = api.post("/api/v1/tokens", json={"name": "t2", "scopes": []}).json()
    assert made["scopes"] == ["all"]  # none given: whatever its user may


def test_a_scoped_token_does_not_open_a_portal_session(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    secret = _token(api, "read")["Authorization"].split()[1]
    with state.db.session() as session:
        started = sessions.sign_in(session, token=secret, client="10.1.1.1", now=utcnow())
    assert started is None
    full = _token(api)["Authorization"].split()[1]
    with state.db.session() as session:
        assert sessions.sign_in(session, token=full, client="10.1.1.1", now=utcnow())


@sqlite_only
def test_every_write_route_needs_more_than_read(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    writes = [
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method.upper() not in ("GET", "HEAD") and path.startswith("/api/v1/")
    ]
    assert len(writes) > 50
    for method, path in writes:
        needed = needed_scope(method, path)
        assert (needed is Scope.READ) == (path in READ_ONLY_POSTS), (method, path, needed)
