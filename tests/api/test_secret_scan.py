"""Planted secrets appear nowhere but where their owner asked for them.

A tenant secret, a token's and an API key's secret and a password are planted in route_walk.py's
world; a job prints its secret to both of its streams and fails. Then everything a person or an
operator can read is scanned for the planted values: every GET of the API, the job's logs (whole,
tailed, followed), events and listings, error answers that echo their input, the audit log,
/metrics, the gateway's refusals, the portal's pages, and the server's own log records. The only
places a value may show are the job's environment inside the job and the one-time answer that
created a token or key; a job's log shows its secrets as `***`, as GitHub Actions masks a
workflow's.
"""

from __future__ import annotations

import logging
import re
import secrets

import httpx
import pytest
from fastapi.testclient import TestClient
from route_walk import (
    World,
    bearer,
    calls,
    created,
    operations,
    routes_of,
    send,
    text_of,
    wait_state,
)

API = "/api/v1"


@pytest.fixture
def db_url() -> None:
    """SQLite only: what is scanned does not depend on the database."""
    return None


def test_planted_secrets_appear_nowhere(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api, a, member = world.api, world.a, world.a_member
    value = f"plant-{secrets.token_hex(12)}"
    put = api.put(f"{API}/secrets/PLANT_KEY", json={"value": value}, headers=member)
    assert put.status_code == 200 and value not in put.text
    token = created(api.post(f"{API}/tokens", json={"name": "plant"}, headers=member))["secret"]
    key = created(api.post(f"{API}/keys", json={"name": "plant-key"}, headers=member))["secret"]
    password = f"pw-{secrets.token_hex(12)}"
    person = created(
        api.post(
            f"{API}/users",
            json={"name": "alpha-planter", "role": "member", "password": password},
            headers=world.a_admin,
        )
    )
    planted = {value, token, key, password, *world.secrets}
    # The job uses the secret as the tenant may: prints it, to both streams, and fails.
    script = 'echo "key=$PLANT_KEY"; printf "%s\\n" "$PLANT_KEY" >&2; exit 3'
    spec = {"name": "plant-job", "command": script, "secrets": ["PLANT_KEY"]}
    job = created(api.post(f"{API}/jobs", json=spec, headers=member))
    done = wait_state(api, job["id"], {"succeeded", "failed", "cancelled"})
    assert done["state"] == "failed", done

    seen: list[tuple[str, httpx.Response]] = []

    def scan(what: str, answer: httpx.Response) -> httpx.Response:
        seen.append((what, answer))
        return answer

    # Its logs: the line is there, the value is not, however the log is read.
    logs = f"{API}/jobs/{job['id']}/logs"
    out = scan("stdout", api.get(logs, headers=member))
    assert out.text.strip() == "key=***"
    err = scan("stderr", api.get(logs, params={"stream": "stderr"}, headers=member))
    assert "***" in err.text
    for tail in (3, len(value) // 2, len(value) + 2):  # a tail that cuts the value
        scan(f"tail {tail}", api.get(logs, params={"tail": tail}, headers=member))
    scan("follow", api.get(logs, params={"follow": True}, headers=member))
    # Everything a reader of the API reads, as A's org admin and as the center admin.
    for auth in (world.a_admin, None):
        for op in operations(api.app):
            if op.method == "GET":
                for call in calls(op, a):
                    scan(f"{op}", send(api, call, auth))
        for suffix in ("", "/events", "/explain"):
            scan(f"job{suffix}", api.get(f"{API}/jobs/{job['id']}{suffix}", headers=auth))
        scan("audit", api.get(f"{API}/audit", params={"limit": 1000}, headers=auth))
    scan("metrics", api.get("/metrics"))
    # Errors that echo what was sent: a value where another type belongs, unknown fields, a
    # malformed or unknown token, a wrong password.
    for body in ({"value": [value]}, {"value": value, "extra": value}, {"value": {"v": value}}):
        scan("422", api.put(f"{API}/secrets/PLANT_KEY", json=body, headers=member))
    scan("422 job", api.post(f"{API}/jobs", json={"command": 7, "env": {"K": 7}}, headers=member))
    scan("401", api.get(f"{API}/me", headers=bearer(token + "x")))
    scan("401 key", api.get(f"{API}/me", headers=bearer(key)))
    for bad in ({"name": "x", "password": [password]}, {"name": 7, "password": password}):
        scan("422 user", api.post(f"{API}/users", json=bad, headers=world.a_admin))
    # The gateway, with the API key, a wrong one and a token where a key belongs.
    chat = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
    for secret in (key, key + "x", token):
        scan("gateway", api.post("/v1/chat/completions", json=chat, headers=bearer(secret)))
    # The portal, for its operator and for A's member with the password.
    refused, answer = portal(api, name=person["name"], password=password[:-1] + "x")
    scan("wrong password", answer)
    scan("signed out", refused.get("/"))
    operator, _ = portal(api, token=api.headers["Authorization"].split()[1])
    mate, _ = portal(api, token=token)
    # Forms refused with a planted value in them: the page comes back without it.
    form = {"name": "Not A Name!", "role": "member", "password": password}
    answer = operator.post("/center/tenants/users", data={**form, "csrf": csrf(operator)})
    assert scan("refused user form", answer).status_code >= 400
    form = {"name": "1-not-a-name", "value": value}
    answer = mate.post("/secrets", data={**form, "csrf": csrf(mate, "/secrets")})
    assert scan("refused secret form", answer).status_code >= 400
    for browser in (operator, mate):
        pages = [path for path, methods in routes_of(api.app) if is_page(path, methods)]
        pages += [f"/jobs/{job['id']}{s}" for s in JOB_PAGES]
        pages += [f"/data/{a.dataset}", f"/models/{a.model}", f"/deployments/{a.deployment}"]
        assert len(pages) > 30, pages
        shown_ok = sum(scan(page, browser.get(page)).status_code == 200 for page in pages)
        assert shown_ok > 25, f"{shown_ok} of {len(pages)} pages answered 200"
        shown = browser.get(f"/jobs/{job['id']}/log")  # signed in: the page shows the masked line
        assert shown.status_code == 200 and "key=***" in shown.text, shown.text[:300]

    assert len(seen) > 150
    for what, answer in seen:
        body = text_of(answer)
        leaked = [s for s in planted if s in body or s in str(answer.headers)]
        assert not leaked, f"{what} ({answer.status_code}) shows a planted secret: {body[:300]}"
    records = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args}" for r in caplog.records)
    assert caplog.records and not [s for s in planted if s in records + caplog.text]
    # The job itself had the value (the one place it belongs).
    assert done["message"] and value not in done["message"]


JOB_PAGES = ("", "/log", "/log?stream=stderr", "/live", "/resources", "/outputs", "/metrics")


def is_page(path: str, methods: frozenset[str]) -> bool:
    """A portal page without parameters."""
    return (
        "GET" in methods
        and "{" not in path
        and not path.startswith(("/api/", "/v1", "/static", "/metrics", "/healthz"))
        and path not in ("/sign-out", "/openapi.json", "/docs", "/redoc")
    )


def portal(
    api: TestClient, *, token: str = "", name: str = "", password: str = ""
) -> tuple[TestClient, httpx.Response]:
    """A browser of the same app that signed in with a token or a password, and the answer."""
    client = TestClient(api.app)
    client.get("/sign-in")
    form = {"csrf": client.cookies.get("aicc_csrf") or ""}
    form |= {"token": token} if token else {"username": name, "password": password}
    return client, client.post("/sign-in", data=form, follow_redirects=False)


def csrf(client: TestClient, page: str = "/center/tenants") -> str:
    """The CSRF token in a page's forms, as a browser sends it back."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found, page
    return found.group(1)
