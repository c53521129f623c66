"""The federation loop: its submit to a peer is idempotent (a crash between the peer's answer
and recording its job id makes the next pass ask again, and the peer answers with the same job,
never a second one); a silent peer is lost and its jobs requeued, failed or, cancelled by their
user, left cancelled; one peer's refusals never stop the jobs at the others being followed."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from aicc.services.common import utcnow
from aicc.services.federation import signing
from aicc.store.tables.federation import FederationJobRow
from aicc.testing.polling import wait
from aicc.testing.servers import free_port, in_process, over_http


def test_a_forgotten_remote_id_finds_the_same_job_at_the_peer(tmp_path: Path) -> None:
    home_key = signing.load_key(tmp_path / "home" / "federation.key")
    peer_key = signing.load_key(tmp_path / "peer" / "federation.key")
    port = free_port()
    peer_url = f"http://127.0.0.1:{port}"
    home_fed = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": [{"site": "peer", "url": peer_url, "public_key": signing.public_text(peer_key)}],
    }
    peer_fed = {
        "site": "peer",
        "url": peer_url,
        "peers": [
            {
                "site": "home",
                "url": "http://127.0.0.1:9",
                "public_key": signing.public_text(home_key),
            }
        ],
    }
    with (
        over_http(tmp_path / "peer", loops=False, port=port, federation=peer_fed) as (_, token, _s),
        in_process(tmp_path / "home", federation=home_fed, pricing={"cpu_core_hour": "2"}) as (
            api,
            state,
        ),
    ):
        # the peer is cheaper (its loops are off here, so its advert is sent by hand)
        advert = {"site": "peer", "jurisdiction": "CN", "prices": {"cpu_core_hour": "1"}}
        body = json.dumps(advert).encode()
        path = "/api/v1/federation/adverts"
        headers = signing.sign(peer_key, "peer", "POST", path, body, utcnow(), to="home")
        headers |= {"Authorization": "", "Content-Type": "application/json"}
        assert api.post(path, content=body, headers=headers).status_code == 200
        job = api.post(
            "/api/v1/jobs",
            json={"command": "true", "placement": "federation", "resources": {"cpu": "100m"}},
        ).json()

        def remote_id() -> str | None:
            with state.db.reader() as session:
                row = session.scalar(
                    select(FederationJobRow).where(FederationJobRow.job_id == job["id"])
                )
                return row.remote_job_id if row else None

        first = wait("the job submitted to the peer", remote_id, timeout=20)
        assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "scheduled"
        with state.db.session() as session:  # as if the home crashed before recording it
            row = session.scalar(
                select(FederationJobRow).where(FederationJobRow.job_id == job["id"])
            )
            assert row is not None
            row.remote_job_id = None
        again = wait("the job submitted again", remote_id, timeout=20)
        assert again == first
        at_peer = httpx.get(
            peer_url + "/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
        assert [j["id"] for j in at_peer] == [first]
        assert at_peer[0]["spec"]["labels"]["federation.home-job"] == job["id"]


@contextlib.contextmanager
def a_silent_peer(tmp_path: Path) -> Iterator[TestClient]:
    """A home site whose one peer sent one advert and answers nothing after (no server at its
    address): its adverts grow old and it is lost after `lost_after_s`."""
    peer_key = signing.load_key(tmp_path / "peer.key")
    home_fed = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": [
            {
                "site": "peer",
                "url": f"http://127.0.0.1:{free_port()}",
                "public_key": signing.public_text(peer_key),
            }
        ],
        "lost_after_s": 1.5,
        "request_timeout_s": 0.5,
    }
    with in_process(tmp_path / "home", federation=home_fed, pricing={"cpu_core_hour": "2"}) as (
        api,
        _state,
    ):
        advert = {"site": "peer", "jurisdiction": "CN", "prices": {"cpu_core_hour": "1"}}
        body = json.dumps(advert).encode()
        path = "/api/v1/federation/adverts"
        headers = signing.sign(peer_key, "peer", "POST", path, body, utcnow(), to="home")
        headers |= {"Authorization": "", "Content-Type": "application/json"}
        assert api.post(path, content=body, headers=headers).status_code == 200
        yield api


def test_a_job_at_a_site_that_goes_silent_fails_without_retries(tmp_path: Path) -> None:
    """The peer goes silent: after `lost_after_s` the job routed there fails with reason
    `site_lost` (max_retries 0)."""
    with a_silent_peer(tmp_path) as api:
        job = api.post(
            "/api/v1/jobs",
            json={"command": "true", "placement": "federation", "resources": {"cpu": "100m"}},
        ).json()

        def ended() -> dict[str, str] | None:
            found: dict[str, str] = api.get(f"/api/v1/jobs/{job['id']}").json()
            return found if found["state"] == "failed" else None

        failed = wait("the job failing with its site", ended, timeout=20)
        assert failed["reason"] == "site_lost"
        assert "site peer sent no advert for 2 s" in failed["message"]
        events = api.get(f"/api/v1/jobs/{job['id']}/events").json()["items"]
        assert [e["reason"] for e in events] == ["submitted", "routed", "site_lost"]
        sites = api.get("/api/v1/federation/sites").json()["items"]
        assert [(s["site"], s["state"]) for s in sites] == [("peer", "lost")]


def test_a_job_cancelled_at_home_stays_cancelled_when_its_site_is_lost(tmp_path: Path) -> None:
    """The user cancels a job routed to a peer that then goes silent: losing the site must end
    the job cancelled, not requeue it (with retries left) to run at another site."""
    with a_silent_peer(tmp_path) as api:
        job = api.post(
            "/api/v1/jobs",
            json={
                "command": "true",
                "placement": "federation",
                "resources": {"cpu": "100m"},
                "max_retries": 2,
            },
        ).json()

        def routed() -> bool:
            return api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "scheduled"

        wait("the job routed to the peer", routed, timeout=20)
        assert api.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200

        def ended() -> dict[str, str] | None:
            found: dict[str, str] = api.get(f"/api/v1/jobs/{job['id']}").json()
            return found if found["state"] not in ("scheduled", "running") else None

        found = wait("the job leaving its lost site", ended, timeout=20)
        assert found["state"] == "cancelled", found
        assert found["reason"] == "cancelled_by_user"
        assert found["attempt"] == 0  # never requeued


def test_a_peer_that_refuses_does_not_stop_following_jobs_at_other_peers(
    tmp_path: Path,
) -> None:
    """Site p1 answers 4xx to every call about its jobs (its operator replaced home's key, say):
    the jobs at p2 must still be followed to their end, not left running at home forever."""
    from aicc.services.federation import adverts
    from aicc.services.federation.peers import PeerRefused
    from aicc.testing.tenants import make_tenant

    key = signing.load_key(tmp_path / "peer.key")
    peers = [
        {"site": s, "url": "http://127.0.0.1:9", "public_key": signing.public_text(key)}
        for s in ("p1", "p2")
    ]
    home_fed = {
        "site": "home",
        "url": "http://127.0.0.1:9",
        "peers": peers,
        "org_sites": {"a": ["p1"], "b": ["p2"]},
    }

    class Fake:
        def push_advert(self, site: str, advert: object) -> None:
            pass

        def submit(self, site: str, spec: dict[str, object], key: str) -> dict[str, str]:
            return {"id": f"{site}-{key}"}

        def job(self, site: str, job_id: str) -> dict[str, object]:
            if site == "p1":
                raise PeerRefused(401, "unknown site 'home'")
            now = utcnow().isoformat()
            return {"state": "succeeded", "started_at": now, "ended_at": now, "exit_code": 0}

        def outputs(self, site: str, job_id: str, into: object, max_bytes: int) -> int:
            raise PeerRefused(404, "no outputs")

        def cancel(self, site: str, job_id: str) -> None:
            pass

    with in_process(tmp_path / "home", federation=home_fed) as (api, state):
        assert state.controller.federation is not None
        state.controller.federation.peers = Fake()  # type: ignore[assignment]
        with state.db.session() as session:
            for site in ("p1", "p2"):
                advert = {"site": site, "jurisdiction": "CN", "models": {}, "datasets": []}
                adverts.store(session, site, advert, utcnow())
        a, b = make_tenant(api, "a"), make_tenant(api, "b")
        spec = {"command": "true", "placement": "federation", "resources": {"cpu": "100m"}}
        first = api.post("/api/v1/jobs", json=spec, headers=a.headers).json()
        there = api.post("/api/v1/jobs", json=spec, headers=b.headers).json()
        last = api.post("/api/v1/jobs", json=spec, headers=a.headers).json()

        def done() -> dict[str, str] | None:
            found: dict[str, str] = api.get(f"/api/v1/jobs/{there['id']}").json()
            return found if found["state"] == "succeeded" else None

        wait("the job at p2 followed to its end", done, timeout=20)
        for job in (first, last):
            assert api.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "scheduled"

        # p1 deleted its jobs: a 404 is final, they fail at home with p1's answer
        def deleted(site: str, job_id: str) -> dict[str, object]:
            raise PeerRefused(404, f"job {job_id} not found")

        Fake.job = staticmethod(deleted)  # type: ignore[method-assign,assignment]

        def failed() -> list[dict[str, str]] | None:
            found = [api.get(f"/api/v1/jobs/{job['id']}").json() for job in (first, last)]
            return found if all(j["state"] == "failed" for j in found) else None

        for job in wait("p1's deleted jobs failed at home", failed, timeout=20):
            assert job["reason"] == "site_refused" and "404" in job["message"], job
