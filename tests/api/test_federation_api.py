"""Signed requests between sites (services/federation/signing.py, api/deps.py): a configured
peer's signature is a tenant here; a bad signature, an unknown site and a stale time are 401;
the peer's tenant sees only its own jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.federation import signing
from aicc.testing.servers import in_process
from aicc.testing.tenants import make_tenant

ADVERT = {"site": "peer", "jurisdiction": "CN-SH", "models": {}, "datasets": []}
JOB = {"command": "echo from a peer", "resources": {"cpu": "100m", "memory": "64MiB"}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    root = tmp_path_factory.mktemp("site")
    peer_key = signing.load_key(root / "peer.key")
    federation = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "jurisdiction": "CN-GD",
        "peers": [
            {
                "site": "peer",
                "url": "http://127.0.0.1:9",
                "public_key": signing.public_text(peer_key),
            }
        ],
        "request_timeout_s": 0.5,
    }
    with in_process(root / "home", federation=federation) as (api, _state):
        yield api, peer_key


def signed(
    api: TestClient,
    key: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    site: str = "peer",
    at_offset_s: float = 0,
) -> Any:
    content = b"" if body is None else json.dumps(body).encode()
    headers = signing.sign(
        key, site, method, path, content, utcnow() + timedelta(seconds=at_offset_s), to="home"
    )
    headers["Authorization"] = ""  # no bearer token: the site's signature stands for it
    headers["Content-Type"] = "application/json"
    return api.request(method, path, content=content, headers=headers)


def test_a_good_signature_is_accepted_and_its_advert_kept(site: tuple[TestClient, Any]) -> None:
    api, key = site
    answer = signed(api, key, "POST", "/api/v1/federation/adverts", ADVERT)
    assert answer.status_code == 200, answer.text
    sites = api.get("/api/v1/federation/sites").json()["items"]
    assert [(s["site"], s["state"], s["jurisdiction"]) for s in sites] == [("peer", "up", "CN-SH")]


def test_a_bad_signature_an_unknown_site_and_a_stale_time_are_refused(
    site: tuple[TestClient, Any], tmp_path: Path
) -> None:
    api, key = site
    other = signing.load_key(tmp_path / "other.key")
    bad = signed(api, other, "POST", "/api/v1/federation/adverts", ADVERT)
    assert (bad.status_code, bad.json()["detail"]) == (
        401,
        "bad signature from site peer (for this site, home)",
    )
    unknown = signed(api, key, "GET", "/api/v1/jobs", site="stranger")
    assert unknown.status_code == 401
    assert "unknown site 'stranger'" in unknown.json()["detail"]
    stale = signed(api, key, "GET", "/api/v1/jobs", at_offset_s=-120)
    assert stale.status_code == 401
    assert "from this site's clock" in stale.json()["detail"]
    # a body changed after signing is not the body that was signed
    content = json.dumps(ADVERT).encode()
    headers = signing.sign(
        key, "peer", "POST", "/api/v1/federation/adverts", content, utcnow(), to="home"
    )
    tampered = api.post(
        "/api/v1/federation/adverts",
        content=json.dumps({**ADVERT, "jurisdiction": "CN-GD"}).encode(),
        headers={**headers, "Authorization": "", "Content-Type": "application/json"},
    )
    assert tampered.status_code == 401
    # what the peer signed for another site cannot be replayed here
    elsewhere = signing.sign(
        key, "peer", "POST", "/api/v1/federation/adverts", content, utcnow(), to="third"
    )
    replayed = api.post(
        "/api/v1/federation/adverts",
        content=content,
        headers={**elsewhere, "Authorization": "", "Content-Type": "application/json"},
    )
    assert replayed.status_code == 401 and "for this site, home" in replayed.json()["detail"]


def test_an_advert_must_name_the_site_that_signed_it(site: tuple[TestClient, Any]) -> None:
    api, key = site
    answer = signed(api, key, "POST", "/api/v1/federation/adverts", {**ADVERT, "site": "home"})
    assert answer.status_code == 422
    assert "names home but site peer signed it" in answer.json()["detail"]


def test_the_peer_is_a_tenant_that_sees_only_its_own_jobs(site: tuple[TestClient, Any]) -> None:
    api, key = site
    other = make_tenant(api, "neighbour")
    theirs = api.post("/api/v1/jobs", json=JOB, headers=other.headers).json()["id"]
    mine = signed(api, key, "POST", "/api/v1/jobs", {**JOB, "labels": {"federation.home-job": "j"}})
    assert mine.status_code == 201, mine.text
    assert signed(api, key, "GET", f"/api/v1/jobs/{theirs}").status_code == 404
    listed = signed(api, key, "GET", "/api/v1/jobs").json()["items"]
    assert [j["id"] for j in listed] == [mine.json()["id"]]
    assert api.get(f"/api/v1/jobs/{mine.json()['id']}", headers=other.headers).status_code == 404
    orgs = {o["name"] for o in api.get("/api/v1/orgs").json()["items"]}
    assert "site-peer" in orgs  # made on first contact


def test_only_operators_list_the_sites(site: tuple[TestClient, Any]) -> None:
    api, _ = site
    member = make_tenant(api, "curious")
    assert api.get("/api/v1/federation/sites", headers=member.headers).status_code == 403


# Refused from the server's settings before anything is stored: SQLite alone.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_placement_federation_is_refused_where_there_is_no_federation(
    server: tuple[TestClient, AppState],
) -> None:
    api, _ = server
    answer = api.post("/api/v1/jobs", json={**JOB, "placement": "federation"})
    assert answer.status_code == 422
    assert "not in a federation" in answer.json()["detail"]


def test_a_time_beyond_a_float_is_a_401_not_a_500(site: tuple[TestClient, Any]) -> None:
    """X-AICC-Time is the caller's to write: a number of hundreds of digits is a bad time."""
    api, key = site
    headers = signing.sign(key, "peer", "GET", "/api/v1/jobs", b"", utcnow(), to="home")
    headers |= {signing.TIME: "9" * 400, "Authorization": ""}
    answer = api.get("/api/v1/jobs", headers=headers)
    assert answer.status_code == 401, answer.text
    assert "X-AICC-Time" in answer.json()["detail"]


def test_a_user_named_like_a_site_in_another_org_is_not_that_sites_tenant(
    tmp_path: Path,
) -> None:
    """An organization admin may name a user of theirs `site-gy` before site gy's first
    contact: gy's signed requests must not then act as that user, in that tenant."""
    gy_key = signing.load_key(tmp_path / "gy.key")
    federation = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": [
            {"site": "gy", "url": "http://127.0.0.1:9", "public_key": signing.public_text(gy_key)}
        ],
    }
    with in_process(tmp_path / "home", federation=federation) as (api, _state):
        admin = make_tenant(api, "acme", role="org_admin")
        squatter = api.post(
            "/api/v1/users",
            json={"name": "site-gy", "role": "member", "org_id": admin.org_id},
            headers=admin.headers,
        )
        assert squatter.status_code == 201, squatter.text
        theirs = api.post("/api/v1/jobs", json=JOB, headers=admin.headers).json()["id"]

        def as_gy(method: str, path: str, body: Any = None) -> Any:
            content = b"" if body is None else json.dumps(body).encode()
            headers = signing.sign(gy_key, "gy", method, path, content, utcnow(), to="home")
            headers |= {"Authorization": "", "Content-Type": "application/json"}
            return api.request(method, path, content=content, headers=headers)

        listed = as_gy("GET", "/api/v1/jobs")  # before: acme's jobs, as acme's user
        assert listed.status_code == 409, listed.text
        assert "user site-gy exists in another organization" in listed.json()["detail"]
        assert as_gy("GET", f"/api/v1/jobs/{theirs}").status_code == 409
        assert as_gy("POST", "/api/v1/jobs", JOB).status_code == 409  # never into acme's project


def test_a_badly_typed_advert_is_refused_naming_its_field_and_routing_goes_on(
    tmp_path: Path,
) -> None:
    """A peer's advert whose numbers are not numbers (a count "eight", a price "cheap") was
    kept, and then every routing read it and raised: every job with `placement: federation`
    stayed pending, at every site. It is a 422 naming the field, and the last good advert
    stays."""
    from aicc.api.schemas.federation import AdvertIn
    from aicc.services.federation import adverts
    from aicc.testing.polling import wait

    key = signing.load_key(tmp_path / "peer.key")
    federation = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": [
            {"site": "peer", "url": "http://127.0.0.1:9", "public_key": signing.public_text(key)}
        ],
        "request_timeout_s": 0.5,
    }
    good = {
        "site": "peer",
        "jurisdiction": "CN",
        "models": {"H100": {"count": 8, "free": 8, "pflops": 0.989, "wait_s": 0.0}},
        "prices": {"cpu_core_hour": "1", "accelerator_hour": {"H100": "20.00"}},
        "energy": {"pue": 1.3, "carbon_g_per_kwh": 500},
    }
    h100 = good["models"]["H100"]  # type: ignore[index]
    with in_process(tmp_path / "home", federation=federation, pricing={"cpu_core_hour": "2"}) as (
        api,
        state,
    ):
        path = "/api/v1/federation/adverts"
        assert signed(api, key, "POST", path, good).status_code == 200
        eight = signed(
            api, key, "POST", path, {**good, "models": {"H100": {**h100, "count": "eight"}}}
        )
        job = api.post(
            "/api/v1/jobs",
            json={**JOB, "placement": "federation"},
        ).json()

        def routed() -> dict[str, Any] | None:
            found: dict[str, Any] = api.get(f"/api/v1/jobs/{job['id']}").json()
            return found if found["state"] != "pending" else None

        wait("the job routed (it stays pending while a stored advert breaks routing)", routed, 20)
        bad: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
            ({**good, "models": {"H100": {**h100, "count": "8"}}}, ("models", "H100", "count")),
            ({**good, "models": {"H100": {**h100, "free": -1}}}, ("models", "H100", "free")),
            ({**good, "models": {"H100": {"count": 8}}}, ("models", "H100", "free")),
            ({**good, "prices": {"cpu_core_hour": "cheap"}}, ("prices", "cpu_core_hour")),
            (
                {**good, "prices": {"accelerator_hour": {"H100": "-3"}}},
                ("prices", "accelerator_hour", "H100"),
            ),
            ({**good, "energy": {"pue": "low"}}, ("energy", "pue")),
            ({**good, "datasets": [{"name": "d", "bytes": "big"}]}, ("datasets", 0, "bytes")),
        ]
        answers = [(eight, ("models", "H100", "count"))] + [
            (signed(api, key, "POST", path, advert), loc) for advert, loc in bad
        ]
        for answer, loc in answers:
            assert answer.status_code == 422, (loc, answer.text)
            named = [tuple(e["loc"]) for e in answer.json()["detail"]]
            assert ("body", *loc) in named, (loc, named)
        sites = api.get("/api/v1/federation/sites").json()["items"]
        assert sites[0]["advert"]["models"] == good["models"]  # the last good one, as sent
        with state.db.reader() as session:  # what a site of this version sends passes
            own = adverts.build(session, state.settings, utcnow(), None)
        assert AdvertIn.model_validate(own).model_dump(mode="json", exclude_unset=True) == own
