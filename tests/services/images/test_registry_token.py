"""AICC as the registry's token server: the `access` of each JWT it signs follows the rules
(project members push and pull, viewers pull, `org` and `public` widen pulls, anybody else gets
nothing), a job's pull credential pulls its one image only, and the token's `kid` is the libtrust
id Distribution 2.8 finds the key by (the real registry accepts it; another kid is refused)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from aicc.server import ServerState
from aicc.services.common import utcnow
from aicc.services.images import events, images, keys, tokens
from aicc.services.images.distribution import Blob, Manifest
from aicc.services.images.views import ActingJob
from aicc.services.tenancy import tenancy
from aicc.store.tables.jobs import JobRow
from aicc.store.tables.tenancy import UserRow
from aicc.testing import registry
from aicc.testing.servers import in_process
from aicc.testing.tenants import Tenant, make_tenant

SERVICE = "aicc-registry"
DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, ServerState]]:
    with in_process(tmp_path / "home", sandbox="auto") as pair:
        yield pair


def token_for(
    api: TestClient, scopes: list[str], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The claims and header of the token the endpoint signs for these scopes."""
    answer = api.get(
        "/api/v1/registry/token",
        params={"service": SERVICE, "scope": scopes},
        # None: the client's own (admin) token; {}: none at all, an anonymous client
        headers=(headers or {"Authorization": ""}) if headers is not None else {},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    return {"claims": _claims(api, body["token"]), "token": body["token"]}


def _claims(api: TestClient, token: str) -> dict[str, Any]:
    state: ServerState = api.app.state.aicc  # type: ignore[attr-defined]
    cert = x509.load_pem_x509_certificate(
        keys.signing_key(keys.registry_folder(state.settings.home)).cert_path.read_bytes()
    )
    decoded = jwt.decode(token, ECKey.import_key(cert.public_key()), algorithms=["ES256"])
    return {"header": decoded.header, **decoded.claims}


def actions(claims: dict[str, Any]) -> dict[str, list[str]]:
    return {a["name"]: a["actions"] for a in claims["claims"]["access"]}


def basic(headers: dict[str, str]) -> dict[str, str]:
    """The same AICC token as podman sends it: HTTP Basic, any user name."""
    secret = headers["Authorization"].removeprefix("Bearer ")
    return {"Authorization": "Basic " + base64.b64encode(f"podman:{secret}".encode()).decode()}


def person(api: TestClient, name: str, role: str, org_id: str, project_id: str | None) -> dict:
    user = api.post("/api/v1/users", json={"name": name, "role": role, "org_id": org_id}).json()
    if project_id is not None:
        added = api.post(f"/api/v1/projects/{project_id}/members", json={"user_id": user["id"]})
        assert added.status_code < 300, added.text
    secret = api.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
    return {"Authorization": f"Bearer {secret['secret']}"}


def pushed(state: ServerState, repository: str) -> None:
    """Book a push as the registry's notification would (the repository's row, private)."""
    manifest = Manifest(DIGEST, (Blob("sha256:" + "b" * 64, 100),))
    with state.db.session() as session:
        assert events.record_push(
            session, repository=repository, tag="1", manifest=manifest, actor="t"
        )


def share(api: TestClient, who: Tenant, name: str, visibility: str) -> None:
    answer = api.patch(
        f"/api/v1/images/{name}",
        params={"project": who.project_id},
        json={"visibility": visibility},
        headers=who.headers,
    )
    assert answer.status_code == 200, answer.text


def test_access_follows_membership_and_visibility(
    served: tuple[TestClient, ServerState],
) -> None:
    api, state = served
    a, b = make_tenant(api, "alpha"), make_tenant(api, "beta")
    vision = api.post("/api/v1/projects", json={"name": "vision", "org_id": a.org_id}).json()
    api.post(f"/api/v1/projects/{vision['id']}/members", json={"user_id": a.user_id})
    a = Tenant(a.org_id, vision["id"], a.user_id, a.headers)  # A works in `vision`
    viewer_headers = person(api, "alpha-viewer", "viewer", a.org_id, vision["id"])
    # a member of the organization, not of `vision`
    mate_headers = person(api, "alpha-mate", "member", a.org_id, None)
    repo = "alpha/vision/demo"
    pushed(state, repo)
    both = [f"repository:{repo}:pull,push"]

    assert actions(token_for(api, both, a.headers))[repo] == ["pull", "push"]
    assert actions(token_for(api, both, basic(a.headers)))[repo] == ["pull", "push"]
    assert actions(token_for(api, both, viewer_headers))[repo] == ["pull"]
    # another tenant, a member of the organization outside the project, and nobody: nothing
    assert actions(token_for(api, both, b.headers))[repo] == []
    assert actions(token_for(api, both, mate_headers))[repo] == []
    assert actions(token_for(api, both, {}))[repo] == []
    # a repository that does not exist answers as another tenant's private one does
    ghost = "alpha/vision/nothing-here"
    assert actions(token_for(api, [f"repository:{ghost}:pull"], b.headers))[ghost] == []

    share(api, a, "demo", "org")
    assert actions(token_for(api, both, mate_headers))[repo] == ["pull"]
    assert actions(token_for(api, both, b.headers))[repo] == []
    share(api, a, "demo", "public")
    assert actions(token_for(api, both, b.headers))[repo] == ["pull"]
    assert actions(token_for(api, both, {}))[repo] == ["pull"]
    assert actions(token_for(api, [f"repository:{repo}:delete"], b.headers))[repo] == []

    # B pushes into its own project's path only
    b_repo = "beta/default/mine"
    assert actions(token_for(api, [f"repository:{b_repo}:push,pull"], b.headers))[b_repo] == [
        "push",
        "pull",
    ]
    # a read-only token pulls but never pushes
    read_only = api.post(
        "/api/v1/tokens", json={"name": "ro", "user_id": b.user_id, "scopes": ["read"]}
    ).json()
    ro = {"Authorization": f"Bearer {read_only['secret']}"}
    assert actions(token_for(api, [f"repository:{b_repo}:push,pull"], ro))[b_repo] == ["pull"]
    # the catalog is the operators'
    assert actions(token_for(api, ["registry:catalog:*"], b.headers))["catalog"] == []
    assert actions(token_for(api, ["registry:catalog:*"]))["catalog"] == ["*"]  # the admin


def test_claims_and_refusals(served: tuple[TestClient, ServerState]) -> None:
    api, _state = served
    found = token_for(api, ["repository:default/default/x:pull"])["claims"]
    assert found["iss"] == "aicc" and found["aud"] == SERVICE and found["sub"] == "admin"
    assert found["exp"] > found["iat"] >= found["nbf"]
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", found["header"]["kid"])
    assert found["header"]["alg"] == "ES256"
    bad = api.get(
        "/api/v1/registry/token",
        params={"service": SERVICE, "scope": "repository:default/default/x:pull"},
        headers={"Authorization": "Basic " + base64.b64encode(b"u:aicc_wrong").decode()},
    )
    assert bad.status_code == 401
    assert "token" in bad.json()["detail"]
    malformed = api.get(
        "/api/v1/registry/token",
        params={"service": SERVICE, "scope": "repository:UPPER/Case:pull"},
    )
    assert malformed.status_code == 422 and "lowercase" in malformed.text
    other = api.get("/api/v1/registry/token", params={"service": "elsewhere"})
    assert other.status_code == 400 and SERVICE in other.text


def test_a_pull_credential_pulls_its_image_only(served: tuple[TestClient, ServerState]) -> None:
    api, state = served
    a, b = make_tenant(api, "alpha"), make_tenant(api, "beta")
    pushed(state, "alpha/default/demo")
    pushed(state, "alpha/default/other")
    with state.db.reader() as session:
        who = tenancy.principal_of(session, session.get(UserRow, a.user_id))  # type: ignore[arg-type]
        credential = images.pull_credential(
            session, who, "demo:1", registry=state.settings.registry, home=state.settings.home
        )
        b_who = tenancy.principal_of(session, session.get(UserRow, b.user_id))  # type: ignore[arg-type]
        with pytest.raises(images.Invalid, match="not yours to pull"):
            images.pull_credential(
                session,
                b_who,
                "alpha/default/demo:1",
                registry=state.settings.registry,
                home=state.settings.home,
            )
    # for a job: its user and its project decide (a short name is in the job's project)
    job = api.post(
        "/api/v1/jobs",
        json={"name": "j", "command": "true", "resources": {"cpu": "100m", "memory": "64MiB"}},
        headers=a.headers,
    )
    assert job.status_code == 201, job.text
    with state.db.reader() as session:
        row = session.get(JobRow, job.json()["id"])
        assert row is not None
        acting = ActingJob(id=row.id, user_id=row.user_id, project_id=row.project_id)
        for_job = images.pull_credential(
            session,
            acting,
            "demo:1",
            registry=state.settings.registry,
            home=state.settings.home,
        )
    job_claims = _claims(api, for_job)
    assert job_claims["sub"] == "alpha-user" and job_claims["access"][0]["name"] == (
        "alpha/default/demo"
    )
    as_password = {
        "Authorization": "Basic " + base64.b64encode(f"aicc:{credential}".encode()).decode()
    }
    scopes = ["repository:alpha/default/demo:pull,push", "repository:alpha/default/other:pull"]
    granted = actions(token_for(api, scopes, as_password))
    assert granted == {"alpha/default/demo": ["pull"], "alpha/default/other": []}
    claims = tokens.verify(
        keys.signing_key(keys.registry_folder(state.settings.home)),
        credential,
        service=SERVICE,
        now=utcnow(),
    )
    assert claims is not None and claims["access"] == [
        {"type": "repository", "name": "alpha/default/demo", "actions": ["pull"]}
    ]


@pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)
def test_the_real_registry_accepts_the_kid_and_refuses_another(tmp_path: Path) -> None:
    with registry.center(tmp_path / "home") as c:
        key = keys.signing_key(keys.registry_folder(c.state.settings.home))
        access = [tokens.Access("registry", "catalog", ("*",))]
        good = tokens.issue(
            key, service=SERVICE, subject="t", access=access, ttl_s=60, now=utcnow()
        )
        answer = httpx.get(
            f"{c.registry.url}/v2/_catalog", headers={"Authorization": f"Bearer {good.token}"}
        )
        assert answer.status_code == 200, answer.text
        forged_key = keys.SigningKey(key.private_pem, key.cert_path, "AAAA:" * 11 + "AAAA")
        bad = tokens.issue(
            forged_key, service=SERVICE, subject="t", access=access, ttl_s=60, now=utcnow()
        )
        refused = httpx.get(
            f"{c.registry.url}/v2/_catalog", headers={"Authorization": f"Bearer {bad.token}"}
        )
        assert refused.status_code == 401


def test_a_project_at_its_storage_limit_gets_no_push(
    served: tuple[TestClient, ServerState],
) -> None:
    """The registry cannot stop a push half-way: the token server refuses `push` once the
    project's images reach its `storage_gib` max; pull and delete (which frees room) remain."""
    api, state = served
    a = make_tenant(api, "alpha")
    pushed(state, "alpha/default/demo")  # 100 bytes
    both = ["repository:alpha/default/demo:pull,push,delete"]
    quota = {"max": {"storage_gib": 150 / 1024**3}}
    assert api.put(f"/api/v1/projects/{a.project_id}/quota", json=quota).status_code == 200
    assert actions(token_for(api, both, a.headers))["alpha/default/demo"] == [
        "pull",
        "push",
        "delete",
    ]
    manifest = Manifest("sha256:" + "9" * 64, (Blob("sha256:" + "8" * 64, 100),))
    with state.db.session() as session:
        events.record_push(
            session, repository="alpha/default/more", tag="1", manifest=manifest, actor="t"
        )
    assert actions(token_for(api, both, a.headers))["alpha/default/demo"] == ["pull", "delete"]
    assert api.get("/api/v1/registry/storage", headers=a.headers).json()["bytes"] == 200
