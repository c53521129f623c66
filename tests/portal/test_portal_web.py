"""The portal through TestClient: signing in and out, the throttle, CSRF, cookies, tenant
isolation on every page, the language switch, and the job pages with a real control loop.
Tests that count failed sign-ins use a fresh server of their own (`server`, SQLite and
PostgreSQL) rather than the module's."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from portal_support import (
    PASSWORD,
    TERMINAL,
    Person,
    browser,
    csrf_of,
    make_person,
    operator,
    sign_in,
    sign_in_with_token,
    signed_in,
    submit,
    wait_job,
)
from sqlalchemy import select

from aicc.api.state import AppState
from aicc.portal import web
from aicc.services.common import utcnow
from aicc.services.tenancy import sessions
from aicc.store.tables.tenancy import PortalSessionRow, SignInFailureRow, TokenRow, UserRow
from aicc.testing.servers import in_process, over_http

# What a throttled sign-in writes to the log is not the database's: SQLite alone (the throttle's
# queries run on PostgreSQL in the tests that count failures).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# --- signing in (SQLite and PostgreSQL: the portal's tables come from migration 0003) ---


def test_pages_send_strangers_to_sign_in(api: TestClient) -> None:
    client = browser(api)
    home = client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/sign-in")
    jobs = client.get("/jobs?state=running", follow_redirects=False)
    assert jobs.headers["location"] == "/sign-in?next=%2Fjobs%3Fstate%3Drunning"
    live = client.get("/jobs/job_x/live", headers={"HX-Request": "true"})
    assert live.status_code == 401
    assert live.headers["HX-Redirect"].startswith("/sign-in?next=")
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert 'type="password"' in page.text and 'for="username"' in page.text


def test_password_sign_in_sets_a_safe_session_cookie(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    alice = make_person(api, "acme", "alice")
    client = browser(api)
    answer = sign_in(client, "alice", next="/jobs")
    assert (answer.status_code, answer.headers["location"]) == (303, "/jobs")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("aicc_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax"} <= flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    assert any(f.startswith("max-age=") for f in flags)
    secret = client.cookies["aicc_session"]
    with state.db.reader() as session:
        rows = list(session.scalars(select(PortalSessionRow)))
    assert [r.user_id for r in rows] == [alice.user_id]
    assert rows[0].id == hashlib.sha256(secret.encode()).hexdigest()  # only the digest is kept
    assert rows[0].expires_at - rows[0].created_at == sessions.SESSION_TTL
    page = client.get("/")
    assert page.status_code == 200 and "alice" in page.text

    secure = browser(api, https=True)
    answer = sign_in(secure, "alice")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("aicc_session="))
    assert "secure" in cookie.lower()


def test_behind_tls_cookies_are_always_secure_and_answers_carry_hsts(tmp_path: Path) -> None:
    """A TLS proxy talks plain http to the server: `tls: true` says the site is https."""
    with in_process(tmp_path / "home", tls=True) as (api, _):
        make_person(api, "acme", "alice")
        client = browser(api)  # http, as from the proxy
        page = client.get("/sign-in")
        csrf = page.cookies["aicc_csrf"]
        form = {"csrf": csrf, "username": "alice", "password": PASSWORD}
        # An http client does not send Secure cookies back; the browser, on https, does.
        cookie = {"Cookie": f"aicc_csrf={csrf}"}
        signed = client.post("/sign-in", data=form, headers=cookie, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        cookies = [*signed.headers.get_list("set-cookie"), page.headers["set-cookie"]]
        assert {c.split("=")[0] for c in cookies} >= {"aicc_session", "aicc_device", "aicc_csrf"}
        for line in cookies:
            if "max-age=0" not in line.lower():  # deleting one needs no flag
                assert "; secure" in line.lower(), line
        session = {"Cookie": f"aicc_session={signed.cookies['aicc_session']}"}
        home = client.get("/", headers=session)
        assert home.status_code == 200 and "alice" in home.text
        for answer in (page, signed, home, api.get("/api/v1/me")):
            assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    with in_process(tmp_path / "plain") as (api, _):
        assert "Strict-Transport-Security" not in api.get("/sign-in").headers


def test_wrong_password_and_unknown_user_look_the_same(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    make_person(api, "acme", "alice")
    client = browser(api)
    wrong = sign_in(client, "alice", "not-the-password")
    nobody = sign_in(client, "nobody", "not-the-password")
    for answer in (wrong, nobody):
        assert answer.status_code == 200
        assert "do not match" in answer.text
        assert "aicc_session" not in answer.headers.get("set-cookie", "")
    assert 'value="alice"' in wrong.text  # the name is kept, the password is not
    assert "not-the-password" not in wrong.text
    with state.db.reader() as session:
        assert sessions.failures(session, username="alice", now=utcnow()) == 1
    assert client.get("/", follow_redirects=False).status_code == 303


def test_failures_throttle_a_name_at_one_address_without_locking_it_out_elsewhere(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    make_person(api, "acme", "alice")
    make_person(api, "initech", "carol")
    attacker = browser(api, address="203.0.113.9")
    for _ in range(sessions.PAIR_FAILURES):
        assert sign_in(attacker, "alice", "guess").status_code == 200
    refused = sign_in(attacker, "alice")  # even the right password, from there
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-in attempts" in refused.text
    assert "aicc_session" not in refused.headers.get("set-cookie", "")
    # Alice from her own address, and another person from the attacker's, still sign in.
    assert sign_in(browser(api, address="198.51.100.7"), "alice").status_code == 303
    assert sign_in(browser(api, address="203.0.113.9"), "carol").status_code == 303
    # The throttle lifts once the failures leave the 15-minute window.
    with state.db.reader() as session:
        later = utcnow() + sessions.WINDOW + timedelta(seconds=1)
        sessions.check_throttle(session, username="alice", client="203.0.113.9", now=later)


def test_guessing_from_one_address_or_many_is_throttled_but_not_at_alices_browser(
    server: tuple[TestClient, AppState],
) -> None:
    api, _ = server
    make_person(api, "acme", "alice")
    make_person(api, "initech", "carol")
    laptop = browser(api, address="198.51.100.7")
    assert sign_in(laptop, "alice").status_code == 303  # she signed in here before
    laptop.post("/sign-out", data={"csrf": csrf_of(laptop)})

    # One address spraying names is stopped there, for every name but at alice's own browser.
    sprayer = browser(api, address="203.0.113.1")
    for n in range(sessions.ADDRESS_FAILURES):
        assert sign_in(sprayer, f"user{n}", "guess").status_code == 200
    assert sign_in(sprayer, "carol").status_code == 429
    at_the_sprayers = browser(api, address="203.0.113.1")
    at_the_sprayers.cookies.set("aicc_device", laptop.cookies["aicc_device"])
    assert sign_in(at_the_sprayers, "alice").status_code == 303

    # Guesses at alice spread over many addresses stop once they add up, for new browsers...
    for n in range(sessions.NAME_FAILURES):
        assert sign_in(browser(api, address=f"192.0.2.{n}"), "alice", "guess").status_code == 200
    assert sign_in(browser(api, address="192.0.2.200"), "alice").status_code == 429
    assert sign_in(browser(api, address="198.51.100.8"), "alice").status_code == 429
    # ...but not at the browser where alice signed in before, nor for anyone else.
    assert sign_in(laptop, "alice").status_code == 303
    assert sign_in(browser(api, address="192.0.2.201"), "carol").status_code == 303


@sqlite_only
def test_a_throttled_sign_in_logs_its_address_and_not_what_was_typed(
    server: tuple[TestClient, AppState], caplog: pytest.LogCaptureFixture
) -> None:
    """A password pasted into the name's field must not reach the server's log."""
    api, _ = server
    pasted = "correct-horse-battery-staple"
    client = browser(api, address="203.0.113.77")
    with caplog.at_level(logging.WARNING, logger="aicc"):
        for _ in range(sessions.ADDRESS_FAILURES + 1):
            answer = sign_in(client, pasted, "guess")
    assert answer.status_code == 429
    assert "203.0.113.77" in caplog.text and pasted not in caplog.text


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(tmp_path: Path) -> None:
    """Over a real socket (uvicorn believes 127.0.0.1's X-Forwarded-For by default). From an
    untrusted peer, guesses at 40 names with a new forwarded address each are one address's
    guesses; from a trusted proxy the forwarded address is the client's, and guesses at one
    name from many forwarded addresses are still throttled."""
    cases = (
        ([], lambda n: f"user{n}", sessions.ADDRESS_FAILURES),
        (["127.0.0.0/8"], None, sessions.NAME_FAILURES),
    )
    for trusted, name, allowed in cases:
        home = tmp_path / f"home{len(trusted)}"
        with over_http(home, trusted_proxies=trusted) as (url, token, state):
            with httpx.Client(
                timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as api:
                make_person(api, "acme", "alice")
            answers = []
            with httpx.Client(timeout=60, base_url=url) as client:
                for n in range(40):
                    forwarded = {"X-Forwarded-For": f"192.0.2.{n}, 127.0.0.1"}
                    client.get("/sign-in", headers=forwarded)
                    username = name(n) if name else "alice"
                    form = {"csrf": client.cookies["aicc_csrf"], "username": username}
                    form["password"] = "guess"
                    answer = client.post("/sign-in", data=form, headers=forwarded)
                    answers.append(answer.status_code)
            assert answers == [200] * allowed + [429] * (40 - allowed), (trusted, answers)
            with state.db.reader() as session:
                clients = set(session.scalars(select(SignInFailureRow.client)))
            assert clients == ({f"192.0.2.{n}" for n in range(20)} if trusted else {"127.0.0.1"})


def test_a_token_signs_in_and_signing_out_leaves_it_valid(
    server: tuple[TestClient, AppState],
) -> None:
    api, _ = server
    admin_token = api.headers["Authorization"].split()[1]
    client = browser(api)
    client.get("/sign-in")
    form = {"csrf": client.cookies["aicc_csrf"], "token": admin_token}
    answer = client.post("/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert client.cookies["aicc_session"] != admin_token  # a session of its own
    assert "admin" in client.get("/").text
    signed_out = client.post("/sign-out", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/sign-in")
    assert api.get("/api/v1/me").status_code == 200  # the API token still works
    entries = api.get("/api/v1/audit", params={"limit": 2}).json()["items"]
    assert [(e["action"], e["user_name"]) for e in entries] == [
        ("portal.sign_out", "admin"),
        ("portal.sign_in", "admin"),
    ]

    client.get("/sign-in")
    bad = {"csrf": client.cookies["aicc_csrf"], "token": "aicc_not-a-token"}
    answer = client.post("/sign-in", data=bad, follow_redirects=False)
    assert answer.status_code == 200 and "token is not valid" in answer.text


# --- sessions and CSRF ---


def test_revoking_a_token_ends_the_sessions_it_started_and_they_mint_nothing(
    server: tuple[TestClient, AppState],
) -> None:
    api, state = server
    alice = make_person(api, "acme", "alice")
    (token,) = api.get("/api/v1/tokens", headers=alice.headers).json()["items"]
    by_token = browser(api, address="198.51.100.7")
    assert sign_in_with_token(by_token, alice.token).status_code == 303
    by_password = signed_in(api, alice)
    csrf = csrf_of(by_token, "/tokens")

    revoked = api.delete(f"/api/v1/tokens/{token['id']}", headers=alice.headers)
    assert revoked.status_code == 200
    home = by_token.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/sign-in")
    mint = by_token.post("/tokens", data={"csrf": csrf, "name": "fresh"}, follow_redirects=False)
    assert (mint.status_code, mint.headers["location"]) == (303, "/sign-in?next=%2Ftokens")
    with state.db.reader() as session:
        names = session.scalars(select(TokenRow.name).where(TokenRow.user_id == alice.user_id))
        assert list(names) == ["test"]
    assert by_password.get("/", follow_redirects=False).status_code == 200  # not from the token

    # A token that expires ends its sessions too, checked on each request.
    fresh = api.post("/api/v1/tokens", json={"name": "day", "user_id": alice.user_id}).json()
    again = browser(api)
    assert sign_in_with_token(again, fresh["secret"]).status_code == 303
    assert again.get("/", follow_redirects=False).status_code == 200
    with state.db.session() as session:
        row = session.get(TokenRow, fresh["id"])
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert again.get("/", follow_redirects=False).status_code == 303

    # Disabling the user ends every session of theirs.
    with state.db.session() as session:
        user = session.get(UserRow, alice.user_id)
        assert user is not None
        user.disabled = True
    assert by_password.get("/", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_on_the_server(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    stolen = client.cookies["aicc_session"]
    client.post("/sign-out", data={"csrf": csrf_of(client)})
    replay = browser(api)
    replay.cookies.set("aicc_session", stolen)
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_an_expired_session_signs_out(site: tuple[TestClient, AppState], alice: Person) -> None:
    api, state = site
    client = signed_in(api, alice)
    with state.db.session() as session:
        query = select(PortalSessionRow).where(PortalSessionRow.user_id == alice.user_id)
        for row in session.scalars(query):
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/jobs", follow_redirects=False).status_code == 303


def test_every_form_needs_its_csrf_token(api: TestClient, alice: Person, bob: Person) -> None:
    job = submit(api, alice, command="sleep 30")
    client = signed_in(api, alice)
    other = signed_in(api, bob)
    foreign = csrf_of(other)  # a real token, of another session
    for token in ("", "forged", foreign):
        cancel = client.post(f"/jobs/{job['id']}/cancel", data={"csrf": token})
        assert cancel.status_code == 400, token
        assert "form expired" in cancel.text
        assert client.post("/sign-out", data={"csrf": token}).status_code == 400
        language = client.post("/language", data={"csrf": token, "language": "zh-CN"})
        assert language.status_code == 400
    assert api.get(f"/api/v1/jobs/{job['id']}").json()["cancel_requested"] is False
    assert client.get("/").status_code == 200  # still signed in
    assert 'lang="en"' in client.get("/").text

    stranger = browser(api)
    stranger.get("/sign-in")
    no_token = stranger.post(
        "/sign-in", data={"username": alice.name, "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 400
    assert "aicc_session" not in no_token.headers.get("set-cookie", "")
    api.post(f"/api/v1/jobs/{job['id']}/cancel")


def test_after_sign_in_only_local_paths(api: TestClient, alice: Person) -> None:
    targets = ("//evil.example/x", "https://evil.example/", "/\\evil.example", "jobs", "/\t/evil")
    for target in targets:
        answer = sign_in(browser(api), alice.name, next=target)
        assert answer.headers["location"] == "/", target


# --- the same tenancy as the API ---


def test_another_tenants_job_is_a_404_on_every_page(
    api: TestClient, alice: Person, bob: Person
) -> None:
    job = submit(api, alice, name="secret-plan", command="echo classified")
    wait_job(api, alice, job["id"], TERMINAL)
    client = signed_in(api, bob)
    for path in (f"/jobs/{job['id']}", f"/jobs/{job['id']}/live", f"/jobs/{job['id']}/log"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "secret-plan" not in answer.text and "classified" not in answer.text
    page = client.get(f"/jobs/{job['id']}")
    assert "Page not found" in page.text and "text/html" in page.headers["content-type"]
    cancel = client.post(f"/jobs/{job['id']}/cancel", data={"csrf": csrf_of(client)})
    assert cancel.status_code == 404
    assert "secret-plan" not in client.get("/jobs").text
    assert "secret-plan" not in client.get("/").text
    owner = signed_in(api, alice)
    assert "secret-plan" in owner.get("/jobs").text
    assert owner.get(f"/jobs/{job['id']}").status_code == 200


def test_unknown_paths_are_html_for_browsers_and_json_for_the_api(api: TestClient) -> None:
    page = browser(api).get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert api.get("/api/v1/no-such-thing").json() == {"detail": "Not Found"}
    assert api.get("/api/v1/jobs/job_missing").status_code == 404
    assert "detail" in api.get("/api/v1/jobs/job_missing").json()


# --- language ---


def test_the_language_choice_is_remembered_for_the_user(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    client = signed_in(api, alice)
    answer = client.post(
        "/language",
        data={"csrf": csrf_of(client), "language": "zh-CN", "next": "/jobs"},
        follow_redirects=False,
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/jobs")
    page = client.get("/jobs")
    assert '<html lang="zh-CN">' in page.text and "作业" in page.text
    with state.db.reader() as session:
        user = session.get(UserRow, alice.user_id)
        assert user is not None and user.language == "zh-CN"
    assert api.get("/api/v1/me", headers=alice.headers).json()["user"]["language"] == "zh-CN"
    # Another browser, no cookies, an English Accept-Language: still Chinese for alice.
    fresh = browser(api, **{"Accept-Language": "en-US,en;q=0.9"})
    assert 'lang="en"' in fresh.get("/sign-in").text
    sign_in(fresh, alice.name)
    assert '<html lang="zh-CN">' in fresh.get("/").text


def test_the_sign_in_page_follows_the_browser_and_the_switch(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, state = site
    client = browser(api, **{"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    page = client.get("/sign-in")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    switched = client.post(
        "/language", data={"csrf": token.group(1), "language": "en", "next": "/sign-in"}
    )
    assert '<html lang="en">' in switched.text
    sign_in(client, alice.name)
    with state.db.reader() as session:
        user = session.get(UserRow, alice.user_id)
        assert user is not None and user.language == "en"
    assert '<html lang="en">' in client.get("/").text


def test_one_persons_language_does_not_follow_the_next_on_a_shared_browser(
    api: TestClient, alice: Person, bob: Person
) -> None:
    client = browser(api, **{"Accept-Language": "en"})
    sign_in(client, alice.name)
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    assert '<html lang="zh-CN">' in client.get("/").text
    client.post("/sign-out", data={"csrf": csrf_of(client)})
    assert '<html lang="en">' in client.get("/sign-in").text
    sign_in(client, bob.name)
    assert '<html lang="en">' in client.get("/").text


# --- the pages, with the control loop running jobs ---


def test_a_finished_job_shows_its_timeline_replicas_and_log(api: TestClient, alice: Person) -> None:
    job = submit(api, alice, name="hello", command="echo hello-from-portal; echo oops >&2")
    wait_job(api, alice, job["id"], TERMINAL)
    client = signed_in(api, alice)
    page = client.get(f"/jobs/{job['id']}")
    assert page.status_code == 200
    text = page.text
    assert "hello-from-portal" in text  # the log tail
    assert "Succeeded" in text and "Timeline" in text and "Replicas" in text
    for state in ("Pending", "Admitted", "Scheduled", "Running"):
        assert f"<strong>{state}</strong>" in text
    assert 'hx-trigger="every' not in text  # an ended job is not polled
    stderr = client.get(f"/jobs/{job['id']}/log?replica=0&stream=stderr")
    assert "oops" in stderr.text and "hello-from-portal" not in stderr.text
    assert "Cancel job" not in text
    listing = client.get("/jobs", headers={"HX-Request": "true"})
    assert listing.text.lstrip().startswith('<div id="job-rows"')  # a fragment, for htmx
    assert "hello" in listing.text
    assert "hello" in client.get("/jobs?state=succeeded").text
    assert "hello" not in client.get("/jobs?state=failed").text
    assert "hello" in client.get(f"/jobs?project={alice.project_id}").text
    dashboard = client.get("/")
    assert "data-chart=" in dashboard.text and "echarts.min.js" in dashboard.text


def test_a_waiting_job_says_why_and_can_be_cancelled(api: TestClient, alice: Person) -> None:
    node = api.get("/api/v1/nodes").json()["items"][0]
    whole = {"cpu": f"{node['cpu_milli']}m", "memory": "64MiB"}
    first = submit(api, alice, name="hog", command="sleep 60", resources=whole)
    wait_job(api, alice, first["id"], {"running"})
    second = submit(api, alice, name="patient", command="echo done", resources=whole)
    client = signed_in(api, alice)
    page = client.get(f"/jobs/{second['id']}")
    assert "Why is it waiting?" in page.text
    assert "Resources" in page.text  # the scheduler's reason code, translated
    assert 'hx-trigger="every 2s"' in page.text  # polled while it waits
    assert "Cancel job" in page.text
    assert "not started" in page.text  # no log yet
    for job in (second, first):
        answer = client.post(
            f"/jobs/{job['id']}/cancel", data={"csrf": csrf_of(client)}, follow_redirects=False
        )
        assert (answer.status_code, answer.headers["location"]) == (303, f"/jobs/{job['id']}")
    assert wait_job(api, alice, second["id"], TERMINAL)["state"] == "cancelled"
    assert wait_job(api, alice, first["id"], TERMINAL)["state"] == "cancelled"
    assert "Cancel job" not in client.get(f"/jobs/{first['id']}").text


def test_the_dashboard_lists_running_and_waiting_jobs_and_the_quota(
    api: TestClient, alice: Person
) -> None:
    quota = {"guaranteed": {"A100-80GB": 1000}, "max": {"A100-80GB": 2000}}
    assert api.put(f"/api/v1/orgs/{alice.org_id}/quota", json=quota).status_code == 200
    done = submit(api, alice, name="done-early", command="true")
    wait_job(api, alice, done["id"], TERMINAL)
    half = {"cpu": "100m", "memory": "64MiB", "accelerator": {"milli": 500}}
    busy = submit(api, alice, name="half-busy", command="sleep 60", resources=half)
    wait_job(api, alice, busy["id"], {"running"})
    text = signed_in(api, alice).get("/").text
    jobs_card = text[text.index('id="active-title"') :]
    active, ended = jobs_card.split("Recently ended")
    assert "half-busy" in active and "done-early" not in active
    assert "done-early" in ended and 'href="/submit"' in jobs_card
    org = api.get(f"/api/v1/orgs/{alice.org_id}").json()["name"]
    assert f"Quota of {org}" in text and 'href="/quotas"' in text
    assert 'aria-label="A100-80GB 50%"' in text  # half a device of a one-device guarantee
    assert 'id="quota-title"' not in operator(api).get("/").text  # no tenant's card
    api.post(f"/api/v1/jobs/{busy['id']}/cancel")
    wait_job(api, alice, busy["id"], TERMINAL)
    idle = signed_in(api, alice).get("/").text
    assert "Nothing is running or waiting." in idle


def test_nodes_page_shows_devices_marked_simulated(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    page = client.get("/nodes")
    assert page.status_code == 200
    assert "A100-80GB" in page.text and "Simulated" in page.text
    assert page.text.count('<li class="device') == 2
    fragment = client.get("/nodes", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="node-cards"')


def test_pages_are_complete_and_guarded_in_both_languages(
    api: TestClient, alice: Person, caplog: pytest.LogCaptureFixture
) -> None:
    job = submit(api, alice, command="echo hi")
    wait_job(api, alice, job["id"], TERMINAL)
    client = signed_in(api, alice)
    caplog.set_level(logging.WARNING, logger="aicc.portal")
    for language in ("en", "zh-CN"):
        client.post("/language", data={"csrf": csrf_of(client), "language": language})
        for path in ("/", "/jobs", f"/jobs/{job['id']}", "/nodes", "/jobs/job_missing"):
            page = client.get(path)
            assert page.status_code in (200, 404), path
            assert f'<html lang="{language}">' in page.text
            csp = page.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert "<script>" not in page.text  # no inline scripts: the CSP forbids them
    assert not [r for r in caplog.records if "no message" in r.getMessage()]


# Anything a page would fetch from another host: src/href/action with a scheme or `//`, a CSS
# url() or @import of one, or an absolute http(s) address in a script. `data:` is allowed.
_REMOTE = re.compile(
    r"""(?:src|href|action)\s*=\s*["'](?!data:)(?:[a-z][a-z0-9+.-]*:|//)"""
    r"""|url\(\s*["']?(?!data:)(?:[a-z][a-z0-9+.-]*:|//)|@import|https?://""",
    re.IGNORECASE,
)


def test_no_template_stylesheet_or_script_loads_from_another_host() -> None:
    """Front-end libraries are built from npm into static/vendor; nothing comes from a CDN."""
    portal = Path(web.__file__).parent
    files = [
        *(portal / "templates").glob("*.html"),
        *(portal / "static").glob("*.css"),
        *(portal / "static").glob("*.js"),
    ]
    assert len(files) > 30
    remote = {f.name: _REMOTE.findall(f.read_text("utf-8")) for f in files}
    assert not {name: found for name, found in remote.items() if found}
    assert _REMOTE.search('<script src="https://cdn.example/x.js">')  # the check bites
    assert _REMOTE.search("@font-face { src: url(//fonts.example/a.woff2) }")
