"""The operators' federation page: peers with their state from their adverts, what this site
owes them and the settle form (once, with its CSRF token); refused to everyone else; complete in
English and Chinese."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import csrf_of, make_person, operator, signed_in, unique

from aicc.api.state import AppState
from aicc.services.common import utcnow
from aicc.services.federation import signing
from aicc.store.tables.federation import SettlementRow
from aicc.store.tables.jobs import JobRow
from aicc.testing.servers import in_process

JOB = {"command": "true", "resources": {"cpu": "100m", "memory": "64MiB"}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, AppState, Any]]:
    root = tmp_path_factory.mktemp("federation-page")
    key = signing.load_key(root / "peer.key")
    peers = [
        {"site": name, "url": "http://127.0.0.1:9", "public_key": signing.public_text(key)}
        for name in ("sh", "bj")
    ]
    federation = {
        "site": "gz",
        "url": "http://127.0.0.1:9",
        "jurisdiction": "CN-GD",
        "peers": peers,
    }
    with in_process(root / "home", federation=federation) as (api, state):
        yield api, state, key


def owed(state: AppState, api: TestClient) -> int:
    """A settlement as the federation loop writes one for a job that ran at site sh."""
    job = api.post("/api/v1/jobs", json=JOB).json()["id"]
    with state.db.session() as session:
        assert session.get(JobRow, job) is not None
        row = SettlementRow(
            job_id=job,
            attempt=0,
            site="sh",
            remote_job_id="job_remote",
            amount="12.50",
            currency="CNY",
            state="open",
            created_at=utcnow(),
            settled_at=None,
        )
        session.add(row)
        session.flush()
        return row.id


def test_the_page_shows_peers_and_settles_once(site: tuple[TestClient, AppState, Any]) -> None:
    api, state, key = site
    advert = {
        "site": "sh",
        "jurisdiction": "CN-SH",
        "models": {"A100-80GB": {"count": 4, "free": 1, "pflops": 0.312, "wait_s": 0.0}},
    }
    body = json.dumps(advert).encode()
    path = "/api/v1/federation/adverts"
    headers = signing.sign(key, "sh", "POST", path, body, utcnow() - timedelta(seconds=1), to="gz")
    headers |= {"Authorization": "", "Content-Type": "application/json"}
    sent = api.post(path, content=body, headers=headers)
    assert sent.status_code == 200, sent.text
    settlement = owed(state, api)
    client = operator(api)
    page = client.get("/center/federation")
    assert page.status_code == 200
    assert "This site is gz (CN-GD)" in page.text
    sh = page.text.split('id="site-sh"')[1].split("</tr>")[0]
    assert "up" in sh and "CN-SH" in sh and "1/4 A100-80GB" in sh
    bj = page.text.split('id="site-bj"')[1].split("</tr>")[0]
    assert "lost" in bj and "never" in bj
    row = page.text.split(f'id="settlement-{settlement}"')[1].split("</tr>")[0]
    assert "12.50 CNY" in row and "open" in row
    action = f"/center/federation/settlements/{settlement}/settle"
    assert client.post(action, data={"csrf": "forged"}).status_code == 400
    done = client.post(action, data={"csrf": csrf_of(client, "/center/federation")})
    assert done.status_code == 200 and f"Settlement {settlement} is settled." in done.text
    again = client.post(action, data={"csrf": csrf_of(client, "/center/federation")})
    assert again.status_code == 409 and "was settled already" in again.text
    listed = api.get("/api/v1/federation/settlements", params={"state": "settled"}).json()
    assert [s["id"] for s in listed["items"]] == [settlement]


def test_the_page_is_the_operators_alone_and_in_both_languages(
    site: tuple[TestClient, AppState, Any],
) -> None:
    api, _, _ = site
    n = unique()
    member = signed_in(api, make_person(api, f"fed-{n}", f"fed-{n}").name)
    assert member.get("/center/federation").status_code == 403
    client = operator(api)
    assert 'href="/center/federation"' in client.get("/").text
    for language, words in (("zh-CN", "对等站点"), ("en", "Peer sites")):
        client.post("/language", data={"csrf": csrf_of(client), "language": language})
        page = client.get("/center/federation")
        assert page.status_code == 200 and words in page.text
        assert f'<html lang="{language}">' in page.text
