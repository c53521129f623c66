"""Limits a second tenant cannot run past (issue 16), on SQLite and PostgreSQL: request bodies
(413), list pages (422 above the maximum, cursors beyond it), workdir archives by unpacked size
and file count (422), and rate limits per token and per address (429 with Retry-After)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.testing.jobs import tar_gz
from aicc.testing.servers import in_process
from aicc.testing.tenants import make_tenant

# Bodies, page sizes and archives are refused before a query, and the rate limits' buckets are
# the server's memory: SQLite alone. Pages that follow cursors run on both (keyset queries).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

LIST_ROUTES = [
    "/api/v1/orgs",
    "/api/v1/projects",
    "/api/v1/users",
    "/api/v1/queues",
    "/api/v1/tokens",
    "/api/v1/secrets",
    "/api/v1/nodes",
    "/api/v1/price-plans",
    "/api/v1/vouchers",
    "/api/v1/subsidies",
    "/api/v1/budgets",
    "/api/v1/invoices",
    "/api/v1/jobs",
    "/api/v1/audit",
    "/api/v1/usage",
]


@pytest.fixture
def strict(tmp_path: Path, db_url: str | None) -> Iterator[TestClient]:
    """A server with small limits, so tests reach them quickly."""
    limits: dict[str, Any] = {
        "max_request_mib": 1,
        "max_unpacked_mib": 1,
        "max_workdir_files": 20,
        "rate_limit": {
            "per_token_per_s": 2,
            "per_token_burst": 5,
            "per_address_per_s": 1000,
            "per_address_burst": 1000,
        },
    }
    with in_process(tmp_path / "home", db_url, limits=limits) as (client, _):
        yield client


@sqlite_only
def test_a_request_body_over_the_limit_is_a_413(api: TestClient) -> None:
    big = {"name": "acme", "display_name": "x" * (9 * 1024 * 1024)}  # the default limit: 8 MiB
    answer = api.post("/api/v1/orgs", json=big)
    assert answer.status_code == 413 and "8388608 byte limit" in answer.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "acme", "display_name": "'
        for _ in range(9):
            yield b"x" * 1024 * 1024
        yield b'"}'

    streamed = api.post("/api/v1/orgs", content=chunks())
    assert streamed.status_code == 413
    assert [o["name"] for o in api.get("/api/v1/orgs").json()["items"]] == ["default"]
    assert api.post("/api/v1/orgs", json={"name": "acme"}).status_code == 201


@sqlite_only
def test_every_list_has_a_page_size_limit(api: TestClient) -> None:
    for path in LIST_ROUTES:
        answer = api.get(path, params={"limit": 10**6})
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["query", "limit"], path
        assert api.get(path, params={"limit": 1}).status_code == 200, path
    assert api.get("/api/v1/orgs", params={"limit": 1000}).status_code == 200
    assert api.get("/api/v1/orgs", params={"cursor": "x"}).status_code == 422


def test_pages_follow_from_cursor_to_cursor(api: TestClient) -> None:
    for name in ("a", "b", "c"):
        make_tenant(api, name)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/api/v1/orgs", params=params).json()
        assert len(answer["items"]) <= 2
        seen += [o["name"] for o in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == ["default", "a", "b", "c"]


@sqlite_only
def test_a_workdir_that_unpacks_past_the_limits_is_refused(strict: TestClient) -> None:
    bomb = tar_gz({"zeros.bin": b"\0" * (1024 * 1024 + 1)})  # 1 KiB packed, 1 MiB + 1 unpacked
    assert len(bomb) < 10_000
    answer = strict.post("/api/v1/workdirs", content=bomb)
    assert answer.status_code == 422
    assert "unpacks to more than the 1048576 byte limit" in answer.json()["detail"]
    many = tar_gz({f"f{i}.txt": b"x" for i in range(21)})
    answer = strict.post("/api/v1/workdirs", content=many)
    assert answer.status_code == 422 and "limit of 20 files" in answer.json()["detail"]
    fits = tar_gz({f"f{i}.txt": b"x" for i in range(20)})
    assert strict.post("/api/v1/workdirs", content=fits).status_code == 201


@sqlite_only
def test_a_burst_from_one_token_is_throttled_and_others_are_not(strict: TestClient) -> None:
    other = make_tenant(strict, "other")
    # make_tenant spent 3 of the 5; twelve more outrun the refill (2/s) however slow the machine
    # (the request after six once got a token back on a loaded CI machine)
    answers = [strict.get("/api/v1/me") for _ in range(12)]
    codes = [answer.status_code for answer in answers]
    assert codes[:2] == [200, 200] and 429 in codes
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["Retry-After"] == "1"
    assert "too many requests from this token" in refused.json()["detail"]
    assert strict.get("/api/v1/me", headers=other.headers).status_code == 200
    assert strict.get("/healthz").status_code == 200  # probes are not counted
    time.sleep(1.0)
    assert strict.get("/api/v1/me").status_code == 200


@sqlite_only
def test_one_address_is_throttled_across_tokens(tmp_path: Path, db_url: str | None) -> None:
    # refills one a minute: four slow 401s on a loaded machine cannot earn a fourth token back
    rate = {"per_address_per_s": 1 / 60, "per_address_burst": 3}
    with in_process(tmp_path / "home", db_url, limits={"rate_limit": rate}) as (client, _):
        bogus = [{"Authorization": f"Bearer made-up-{i}"} for i in range(4)]
        codes = [client.get("/api/v1/me", headers=h).status_code for h in bogus]
        assert codes == [401, 401, 401, 429]
        answer = client.get("/api/v1/me")
        assert answer.status_code == 429 and "from this address" in answer.json()["detail"]


@sqlite_only
def test_rate_limits_are_on_by_default_and_can_be_turned_off(
    tmp_path: Path, db_url: str | None
) -> None:
    bogus = {"Authorization": "Bearer made-up"}  # cheap: no such token, 401
    codes: list[int] = []
    # `{}`: the defaults (the test servers' own buckets are wide): a burst of 100, then 50 a second
    with in_process(tmp_path / "on", db_url, limits={"rate_limit": {}}) as (api, _):
        while 429 not in codes and len(codes) < 5000:
            codes.append(api.get("/api/v1/me", headers=bogus).status_code)
    assert codes[-1] == 429 and len(codes) > 100 and set(codes[:-1]) == {401}
    off = {"rate_limit": {"enabled": False, "per_token_burst": 1}}
    with in_process(tmp_path / "off", db_url, limits=off) as (client, _):
        assert {client.get("/api/v1/me").status_code for _ in range(20)} == {200}


@sqlite_only
def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    tmp_path: Path, db_url: str | None
) -> None:
    # One token a minute: a loaded machine's slow requests must not refill the bucket between them.
    rate = {"per_address_per_s": 1 / 60, "per_address_burst": 2}
    with in_process(
        tmp_path / "home", db_url, limits={"rate_limit": rate}, trusted_proxies=["10.0.0.0/8"]
    ) as (client, _):
        app, token = client.app, client.headers["Authorization"]
        with TestClient(app, client=("10.0.0.5", 40000)) as proxied:
            proxied.headers["Authorization"] = token

            def me(forwarded: str) -> int:
                return proxied.get("/api/v1/me", headers={"X-Forwarded-For": forwarded}).status_code

            assert [me("203.0.113.7") for _ in range(3)] == [200, 200, 429]
            assert me("198.51.100.9") == 200  # another client behind the same proxy
            # A hop the client wrote itself, left of the proxy's, changes nothing.
            assert me("192.0.2.1, 203.0.113.7") == 429
        with TestClient(app, client=("192.0.2.50", 40000)) as direct:
            direct.headers["Authorization"] = token
            codes = [
                direct.get("/api/v1/me", headers={"X-Forwarded-For": f"198.18.0.{i}"}).status_code
                for i in range(3)
            ]
            assert codes == [200, 200, 429]  # not a trusted proxy: its X-Forwarded-For is ignored
