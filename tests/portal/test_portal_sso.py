"""Single sign-on against a real OpenID Connect provider (oidc-provider from npm, started once
for the module), through AICC's real HTTP server: a person signs in at the provider and lands
signed in to the portal, in the organization and with the role their groups map to; their new
groups apply at their next sign-in; a person no rule maps, a declined consent, a tampered state,
a replayed code, a forged ID token and a provider that is down are all refused with a page that
says why (in English and Chinese), never a 500."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwk, jwt
from portal_support import PASSWORD, unique
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sso_support import CLIENT_ID, Provider, provider, settings, walk

from aicc.config import OidcSettings
from aicc.services.tenancy import oidc, sso
from aicc.testing.servers import free_port, in_process, over_http


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Provider, str]]:
    """The provider, and the port AICC will listen on (its callback is registered there)."""
    port = free_port()
    callback = f"http://127.0.0.1:{port}/sso/oidc/callback"
    with provider(tmp_path_factory.mktemp("idp"), [callback]) as running:
        yield running, str(port)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def aicc(
    request: pytest.FixtureRequest,
    idp: tuple[Provider, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, httpx.Client, dict[str, str]]]:
    """AICC over HTTP with single sign-on to the provider, on SQLite and on PostgreSQL: (its
    URL, an admin API client, the ids of the organizations acme and lab)."""
    idp_, port = idp
    home = tmp_path_factory.mktemp("sso") / "home"
    db = None
    if request.param == "postgresql":
        db = request.getfixturevalue("postgres").create_database(f"sso{os.getpid()}")
    with over_http(home, db, loops=False, port=int(port), oidc=settings(idp_.issuer)) as (
        url,
        token,
        _,
    ):
        admin = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        orgs = {
            name: admin.post("/api/v1/orgs", json={"name": name}).json()["id"]
            for name in ("acme", "lab")
        }
        yield url, admin, orgs
        admin.close()


# What the sign-in page offers, a consent declined at the provider, and a tampered state or a
# replayed code are decided by the settings, the provider and the pending cookie before any
# person is looked up: SQLite alone (a sign-in's queries run on PostgreSQL in the others).
sqlite_only = pytest.mark.parametrize("aicc", ["sqlite"], indirect=True)


def person(idp: tuple[Provider, str], groups: list[str], **claims: Any) -> str:
    """A new person at the provider, in `groups`; returns their login."""
    login = f"p{unique()}-{len(groups)}"
    idp[0].set_account(
        login, preferred_username=login, email=f"{login}@example.com", groups=groups, **claims
    )
    return login


def browser(url: str, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def user_named(admin: httpx.Client, name: str) -> dict[str, Any] | None:
    users = admin.get("/api/v1/users", params={"limit": 500}).json()["items"]
    return next((u for u in users if u["name"] == name), None)


def audit(admin: httpx.Client, action: str) -> list[dict[str, Any]]:
    return admin.get("/api/v1/audit", params={"action": action, "limit": 500}).json()["items"]


@sqlite_only
def test_the_sign_in_page_offers_the_provider_in_both_languages(aicc: Any) -> None:
    url = aicc[0]
    with browser(url) as client:
        page = client.get("/sign-in?next=/jobs")
        assert "Sign in with Test IdP" in page.text
        assert 'href="/sso/oidc?next=/jobs"' in page.text
    with browser(url, **{"Accept-Language": "zh-CN"}) as client:
        assert "使用 Test IdP 登录" in client.get("/sign-in").text


def test_a_person_signs_in_at_the_provider_and_lands_in_the_mapped_org(
    idp: tuple[Provider, str], aicc: Any
) -> None:
    url, admin, orgs = aicc
    login = person(idp, ["staff", "acme-admins"])
    with browser(url) as client:
        landed = walk(client, "/sso/oidc?next=/jobs", login)
        assert landed.status_code == 200 and landed.url.path == "/jobs", landed.text[:300]
        assert login in landed.text  # signed in: the header names them
        assert client.get("/", follow_redirects=False).status_code == 200  # a working session
    user = user_named(admin, login)
    assert user is not None
    assert (user["org_id"], user["role"], user["email"]) == (
        orgs["acme"],
        "org_admin",
        f"{login}@example.com",
    )
    assert user["default_project_id"] is not None
    links = [e for e in audit(admin, "user.sso_link") if e["object_id"] == user["id"]]
    assert links and links[0]["detail"]["issuer"] == idp[0].issuer
    assert [e for e in audit(admin, "user.create") if e["object_id"] == user["id"]]
    signs = [e for e in audit(admin, "portal.sign_in") if e["object_id"] == user["id"]]
    assert signs[0]["detail"] == {"by": "oidc", "provider": "Test IdP"}
    assert signs[0]["user_name"] == login


def test_new_groups_apply_at_the_next_sign_in(idp: tuple[Provider, str], aicc: Any) -> None:
    url, admin, orgs = aicc
    login = person(idp, ["acme-users"])
    with browser(url) as client:
        assert walk(client, "/sso/oidc", login).status_code == 200
    first = user_named(admin, login)
    assert first is not None and (first["org_id"], first["role"]) == (orgs["acme"], "member")
    idp[0].set_account(login, preferred_username=login, groups=["lab"])
    with browser(url) as client:
        assert walk(client, "/sso/oidc", login).status_code == 200
        # a viewer of lab: lab's default project is theirs, acme's is not
        projects = client.get("/jobs")
        assert projects.status_code == 200
    again = user_named(admin, login)
    assert again is not None and again["id"] == first["id"]  # the same user, not a new one
    assert (again["org_id"], again["role"]) == (orgs["lab"], "viewer")
    assert again["default_project_id"] != first["default_project_id"]
    changes = [e for e in audit(admin, "user.sso_update") if e["object_id"] == first["id"]]
    assert changes[0]["detail"] == {
        "org": [orgs["acme"], orgs["lab"]],
        "role": ["member", "viewer"],
    }


def test_a_person_no_rule_maps_is_refused_with_the_reason(
    idp: tuple[Provider, str], aicc: Any
) -> None:
    url, admin, _ = aicc
    login = person(idp, ["marketing"])
    with browser(url) as client:
        refused = walk(client, "/sso/oidc", login)
        assert refused.status_code == 403 and refused.url.path == "/sso/oidc/callback"
        assert "is not given any organization here" in refused.text
        assert "Sign in with Test IdP" in refused.text  # they can try again from there
        assert client.get("/jobs", follow_redirects=False).status_code == 303  # not signed in
    with browser(url, **{"Accept-Language": "zh-CN"}) as client:
        assert "在此处没有对应的组织" in walk(client, "/sso/oidc", login).text
    assert user_named(admin, login) is None
    # a rule naming an organization that does not exist says so
    ghost = person(idp, ["ghosts"])
    with browser(url) as client:
        refused = walk(client, "/sso/oidc", ghost)
        assert refused.status_code == 403
        assert "maps to organization nowhere, which does not exist here" in refused.text


def test_people_are_linked_by_subject_never_by_name_or_email(
    idp: tuple[Provider, str], aicc: Any
) -> None:
    url, admin, orgs = aicc
    name = f"dave{unique()}"
    local = admin.post(
        "/api/v1/users",
        json={
            "name": name,
            "role": "member",
            "org_id": orgs["lab"],
            "password": PASSWORD,
            "email": f"{name}@example.com",
        },
    ).json()
    # the same name and e-mail at the provider: another person all the same (linked by subject)
    idp[0].set_account(
        name, preferred_username=name, email=f"{name}@example.com", groups=["acme-users"]
    )
    with browser(url) as client:
        assert walk(client, "/sso/oidc", name).status_code == 200
    linked = user_named(admin, f"{name}-2")
    assert linked is not None and linked["id"] != local["id"] and linked["org_id"] == orgs["acme"]
    unchanged = user_named(admin, name)
    assert unchanged is not None and unchanged["org_id"] == orgs["lab"]


def test_a_disabled_user_cannot_sign_in_through_the_provider(
    idp: tuple[Provider, str], aicc: Any
) -> None:
    url, admin, _ = aicc
    login = person(idp, ["acme-users"])
    with browser(url) as client:
        assert walk(client, "/sso/oidc", login).status_code == 200
    user = user_named(admin, login)
    assert user is not None
    admin.patch(f"/api/v1/users/{user['id']}", json={"disabled": True}).raise_for_status()
    with browser(url) as client:
        refused = walk(client, "/sso/oidc", login)
        assert refused.status_code == 403
        assert "your account here is disabled" in refused.text
        assert client.get("/jobs", follow_redirects=False).status_code == 303


@sqlite_only
def test_declining_at_the_provider_is_said_plainly(idp: tuple[Provider, str], aicc: Any) -> None:
    url = aicc[0]
    with browser(url) as client:
        page = client.get("/sso/oidc", follow_redirects=True)
        assert 'name="prompt" value="login"' in page.text
        abort = page.url.join(page.text.split('href="')[1].split('"')[0])
        assert abort.path.endswith("/abort")
        refused = client.get(abort, follow_redirects=True)
        assert refused.status_code == 400
        assert "you did not allow Test IdP to sign you in here" in refused.text


@sqlite_only
def test_a_tampered_state_and_a_replayed_code_are_refused(
    idp: tuple[Provider, str], aicc: Any
) -> None:
    url, admin, _ = aicc
    login = person(idp, ["acme-users"])
    with browser(url) as client:
        back = walk(client, "/sso/oidc", login, until_callback=True)
        callback = back.url.join(back.headers["location"])
        pending = client.cookies.get("aicc_sso")
        assert pending
        state = callback.params["state"]
        # one character changed (a state that starts with "x" would stay itself 1 time in 64)
        tampered = callback.copy_set_param("state", ("y" if state[0] == "x" else "x") + state[1:])
        refused = client.get(tampered)
        assert refused.status_code == 400
        assert "this sign-in was not started here or has expired" in refused.text
        assert client.get("/jobs", follow_redirects=False).status_code == 303
    assert user_named(admin, login) is None
    with browser(url) as client:  # the genuine answer, once: signed in
        client.cookies.set("aicc_sso", pending, path="/sso/")
        assert client.get(callback, follow_redirects=True).url.path == "/"
    with browser(url) as thief:  # the same code again, with the same cookie: the provider refuses
        thief.cookies.set("aicc_sso", pending, path="/sso/")
        replayed = thief.get(callback, follow_redirects=True)
        assert replayed.status_code == 400
        assert "refused the sign-in (invalid_grant)" in replayed.text
        assert thief.get("/jobs", follow_redirects=False).status_code == 303
    with browser(url) as stranger:  # no cookie at all: a callback this browser never began
        refused = stranger.get(callback)
        assert refused.status_code == 400 and "not started here" in refused.text


def test_an_id_token_signed_by_another_key_is_refused(idp: tuple[Provider, str]) -> None:
    issuer = idp[0].issuer
    real = oidc.Provider(OidcSettings(issuer=issuer, client_id=CLIENT_ID))
    kid = real._key_set().keys[0].kid
    forger = jwk.RSAKey.generate_key(2048, parameters={"kid": kid})
    now = int(time.time())
    claims = {"iss": issuer, "aud": CLIENT_ID, "sub": "admin", "iat": now, "exp": now + 300}
    forged = jwt.encode({"alg": "RS256", "kid": kid}, {**claims, "nonce": "n"}, forger)
    with pytest.raises(oidc.SignInFailed, match="does not verify"):
        real._verified(forged, "n")


def test_a_provider_that_is_down_gets_a_page_not_a_500(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with in_process(tmp_path / "home", oidc=settings(dead)) as (api, _):
        client = api
        page = client.get("/sso/oidc")
        assert page.status_code == 502
        assert "the sign-in provider Test IdP cannot be reached; try again later" in page.text
        zh = client.get("/sso/oidc", headers={"Accept-Language": "zh-CN"})
        assert "无法连接登录服务 Test IdP" in zh.text


def test_two_first_sign_ins_at_once_make_one_person_and_no_500(
    idp: tuple[Provider, str], aicc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same person's two first sign-ins racing (two tabs): the one that loses the race to
    create them meets a uniqueness error, and tries again, finding the person the other made."""
    url, admin, _ = aicc
    login = person(idp, ["acme-admins"])
    real, raced = sso.sign_in, []

    def first_loses(session: Any, *args: Any, **kwargs: Any) -> Any:
        if not raced:  # the other tab wins: it creates the person in its own transaction
            raced.append(True)
            with Session(session.get_bind()) as other, other.begin():
                real(other, *args, **kwargs)
            raise IntegrityError("INSERT INTO users", {}, Exception("UNIQUE constraint failed"))
        return real(session, *args, **kwargs)

    monkeypatch.setattr(sso, "sign_in", first_loses)
    with browser(url) as client:
        landed = walk(client, "/sso/oidc?next=/jobs", login)
        assert landed.status_code == 200 and landed.url.path == "/jobs", landed.text[:300]
    assert raced
    users = admin.get("/api/v1/users", params={"limit": 500}).json()["items"]
    assert [u["name"] for u in users].count(login) == 1
