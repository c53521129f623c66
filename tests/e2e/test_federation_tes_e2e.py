"""A federation peer of kind `tes` (docs/federation.md, "A TES server as a peer"): site a sends
jobs to site b's GA4GH TES endpoint (a second `aicc serve`, reached only as a TES server, with the
`py-tes` client): a job runs there and its log is read at a; a cancel at a reaches b; a failing
executor and a peer's refusal each fail the job at a with the reason; a job TES cannot express
is refused at submit (422) where only TES peers may run it, else at placement.

Peers at a: `b` (b's TES endpoint, a tenant's token of b's) and `bad` (the same endpoint with a
token b does not know). Organizations at a: `tt` may use only b, `tx` only bad, `tm` a and b.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import tes
import yaml
from e2e_support import TERMINAL, wait_for, wait_state

from aicc.testing.servers import ServerProcess, close_all, free_port

pytestmark = pytest.mark.slow

SMALL = {"cpu": "100m", "memory": "64MiB"}


def tenant(admin: httpx.Client, name: str) -> str:
    org = admin.post("/api/v1/orgs", json={"name": name}).json()
    user = admin.post(
        "/api/v1/users", json={"name": f"{name}-user", "role": "member", "org_id": org["id"]}
    ).json()
    token = admin.post("/api/v1/tokens", json={"name": "t", "user_id": user["id"]}).json()
    return str(token["secret"])


def api(server: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("tes-federation")
    b = ServerProcess(root / "b", free_port())
    a = ServerProcess(root / "a", free_port())
    try:
        (root / "b").mkdir()
        (root / "b" / "config.yaml").write_text(yaml.safe_dump({"sandbox": "off"}))
        b.start()
        b_token = tenant(b.client(), "guest-a")  # the tenant site a is at b
        peers = [
            {"site": "b", "kind": "tes", "url": b.url, "token": b_token, "jurisdiction": "CN-SH"},
            {"site": "bad", "kind": "tes", "url": b.url, "token": "not-a-token-of-b"},
        ]
        config = {
            "sandbox": "off",
            "federation": {
                "site": "a",
                "url": a.url,
                "peers": peers,
                "request_timeout_s": 5,
                "org_sites": {"tt": ["b"], "tx": ["bad"], "tm": ["a", "b"]},
            },
        }
        (root / "a").mkdir()
        (root / "a" / "config.yaml").write_text(yaml.safe_dump(config))
        a.start()
        admin = a.client()
        yield {
            "tt": api(a, tenant(admin, "tt")),
            "tx": api(a, tenant(admin, "tx")),
            "tm": api(a, tenant(admin, "tm")),
            "admin": admin,
            "b": tes.HTTPClient(b.url, token=b_token),
        }
    finally:
        close_all([a, b])


def submit(client: httpx.Client, **spec: Any) -> str:
    body = {"placement": "federation", "resources": SMALL, **spec}
    answer = client.post("/api/v1/jobs", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def task_at_b(b: tes.HTTPClient, job_id: str) -> Any:
    """b's task for a's job, found by the tag a sent."""
    for listed in b.list_tasks(view="BASIC").tasks or []:
        if (listed.tags or {}).get("federation.home-job") == job_id:
            return listed
    return None


def test_a_job_runs_at_the_tes_peer_and_its_log_is_read_at_home(sites: dict[str, Any]) -> None:
    client = sites["tt"]
    job_id = submit(client, command="echo hello from the tes peer; echo oops >&2")
    job = wait_state(client, job_id, TERMINAL, timeout=45)
    assert job["state"] == "succeeded", job
    assert "at site b" in job["message"] and "COMPLETE" in job["message"]
    assert "hello from the tes peer" in client.get(f"/api/v1/jobs/{job_id}/logs").text
    stderr = client.get(f"/api/v1/jobs/{job_id}/logs", params={"stream": "stderr"}).text
    assert "oops" in stderr
    task = task_at_b(sites["b"], job_id)
    assert task is not None and task.state == "COMPLETE"
    assert task.tags["federation.home-site"] == "a"
    assert task.tags["federation.home-user"] == "tt/tt-user"
    sites_seen = sites["admin"].get("/api/v1/federation/sites").json()["items"]
    assert {(s["site"], s["kind"], s["state"]) for s in sites_seen} == {
        ("b", "tes", "up"),
        ("bad", "tes", "up"),
    }


def test_a_cancel_at_home_reaches_the_tes_peer(sites: dict[str, Any]) -> None:
    client = sites["tt"]
    job_id = submit(client, command="echo started; sleep 120")
    wait_state(client, job_id, {"running"}, timeout=30)
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code in (200, 202)
    job = wait_state(client, job_id, TERMINAL, timeout=30)
    assert job["state"] == "cancelled" and job["reason"] == "cancelled_by_user", job
    task = wait_for(
        lambda: (t := task_at_b(sites["b"], job_id)) is not None and t.state == "CANCELED" and t,
        15,
        "the task at b being cancelled",
    )
    assert task.state == "CANCELED"


def test_a_failing_executor_fails_the_job_at_home(sites: dict[str, Any]) -> None:
    client = sites["tt"]
    job_id = submit(client, command="echo about to fail; exit 3")
    job = wait_state(client, job_id, TERMINAL, timeout=45)
    assert job["state"] == "failed", job
    assert job["reason"] == "executor_error", job
    assert "EXECUTOR_ERROR" in job["message"] and "exit code 3" in job["message"], job
    assert "about to fail" in client.get(f"/api/v1/jobs/{job_id}/logs").text


def test_a_peer_that_answers_an_error_fails_the_job_with_its_reason(
    sites: dict[str, Any],
) -> None:
    client = sites["tx"]  # may use only `bad`, whose token b does not know
    job_id = submit(client, command="echo never")
    job = wait_state(client, job_id, TERMINAL, timeout=30)
    assert job["state"] == "failed" and job["reason"] == "site_refused", job
    assert "site bad refused the job: 401" in job["message"], job


def test_what_tes_cannot_express_is_refused_at_submit_and_at_placement(
    sites: dict[str, Any],
) -> None:
    # tt may run only at b, a TES peer: refused at once, naming the field
    body = {"placement": "federation", "resources": SMALL, "command": "echo two", "replicas": 2}
    answer = sites["tt"].post("/api/v1/jobs", json=body)
    assert answer.status_code == 422, answer.text
    detail = str(answer.json()["detail"])
    assert "runs only at TES peers (b)" in detail and "replicas" in detail, detail
    # tm may run here too: routed here, b refused with why
    client = sites["tm"]
    job_id = submit(client, command="echo two", replicas=2)
    events = wait_for(
        lambda: [
            e
            for e in client.get(f"/api/v1/jobs/{job_id}/events").json()["items"]
            if e["reason"] == "routed"
        ],
        30,
        "the job being routed",
    )
    assert events[0]["data"]["ranked"][0]["site"] == "a"
    assert events[0]["data"]["refused"]["b"].startswith("a TES peer cannot run it: replicas")
