"""A signed federation call replayed (issue 35): the same signed `POST /jobs` sent 3 times within
the clock window makes 1 job, and a restart of the server does not reopen the window (the
nonces are kept in the store). On the real server, `aicc serve` as a process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import yaml

from aicc.services.common import utcnow
from aicc.services.federation import signing
from aicc.testing.servers import ServerProcess, free_port

JOB = {"command": "true", "resources": {"cpu": "100m", "memory": "64MiB"}}


def test_a_signed_submit_replayed_three_times_makes_one_job(
    tmp_path: Path, db_url: str | None
) -> None:
    peer_key = signing.load_key(tmp_path / "peer.key")
    home = tmp_path / "home"
    home.mkdir()
    peer = {
        "site": "peer",
        "url": "http://127.0.0.1:9",
        "public_key": signing.public_text(peer_key),
    }
    config = {
        "loop_interval_s": 0.2,
        "federation": {"site": "home", "url": "http://127.0.0.1:9", "peers": [peer]},
    }
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home, free_port(), db_url)  # on SQLite and on PostgreSQL
    try:
        server.start()
        body = json.dumps({**JOB, "labels": {"federation.home-job": "j1"}}).encode()
        headers = signing.sign(peer_key, "peer", "POST", "/api/v1/jobs", body, utcnow(), to="home")
        headers["Content-Type"] = "application/json"

        def send() -> httpx.Response:
            return httpx.post(server.url + "/api/v1/jobs", content=body, headers=headers)

        answers = [send() for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 401, 401], [a.text for a in answers]
        assert "a replayed request: site peer signed nonce" in answers[1].json()["detail"]
        # what the peer's site sees: one job
        listed = httpx.get(
            server.url + "/api/v1/jobs",
            headers=signing.sign(peer_key, "peer", "GET", "/api/v1/jobs", b"", utcnow(), to="home"),
        )
        assert listed.status_code == 200, listed.text
        assert len(listed.json()["items"]) == 1
        # a restart keeps the nonces: the replay is still refused
        server.stop()
        server.start()
        again = send()
        assert again.status_code == 401, again.text
        # a request signed anew (a fresh nonce) is the peer's next call, accepted
        fresh = signing.sign(peer_key, "peer", "POST", "/api/v1/jobs", body, utcnow(), to="home")
        answer = httpx.post(
            server.url + "/api/v1/jobs",
            content=body,
            headers={**fresh, "Content-Type": "application/json"},
        )
        assert answer.status_code == 201, answer.text
    finally:
        server.close()


def test_a_request_without_a_nonce_is_refused(tmp_path: Path) -> None:
    """An old-style signature (no nonce) could be replayed freely: it is refused, 401."""
    peer_key = signing.load_key(tmp_path / "peer.key")
    home = tmp_path / "home"
    home.mkdir()
    peer = {
        "site": "peer",
        "url": "http://127.0.0.1:9",
        "public_key": signing.public_text(peer_key),
    }
    config = {"federation": {"site": "home", "url": "http://127.0.0.1:9", "peers": [peer]}}
    (home / "config.yaml").write_text(yaml.safe_dump(config))
    server = ServerProcess(home, free_port())
    try:
        server.start()
        headers = signing.sign(peer_key, "peer", "GET", "/api/v1/jobs", b"", utcnow(), to="home")
        del headers[signing.NONCE]
        answer = httpx.get(server.url + "/api/v1/jobs", headers=headers)
        assert answer.status_code == 401
        assert "X-AICC-Nonce" in answer.json()["detail"]
    finally:
        server.close()
