"""Pages every person has, through TestClient: API tokens (the secret shown once, revoking),
secrets (names only, never values), and quotas; each shows only the person's own tenant, and
every form needs its CSRF token."""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import (
    PASSWORD,
    TERMINAL,
    Person,
    browser,
    csrf_of,
    operator,
    sign_in,
    signed_in,
    submit,
    unique,
    wait_job,
)

_SECRET = re.compile(r"aicc_[A-Za-z0-9_-]{20,}")


def post(client: TestClient, path: str, page: str, **form: str) -> Any:
    """Post a form of `page` with that page's CSRF token, as the browser would."""
    return client.post(path, data={"csrf": csrf_of(client, page), **form}, follow_redirects=False)


# --- API tokens ---


def test_a_token_is_shown_once_works_and_can_be_revoked(
    api: TestClient, alice: Person, bob: Person
) -> None:
    client = signed_in(api, alice)
    listing = client.get("/tokens")
    assert listing.status_code == 200 and ">test<" in listing.text  # made with the person
    made = post(client, "/tokens", "/tokens", name="alices-laptop", expires_in_days="30")
    assert made.status_code == 200
    secrets = _SECRET.findall(made.text)
    assert len(set(secrets)) == 1
    secret = secrets[0]
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.json()["user"]["name"] == alice.name
    again = client.get("/tokens").text
    assert secret not in again and "alices-laptop" in again  # shown once, listed by name
    token = next(
        t
        for t in api.get("/api/v1/tokens", headers=alice.headers).json()["items"]
        if t["name"] == "alices-laptop"
    )
    assert token["expires_at"] is not None

    # Another tenant neither sees nor revokes it.
    other = signed_in(api, bob)
    assert "alices-laptop" not in other.get("/tokens").text
    foreign = post(other, f"/tokens/{token['id']}/revoke", "/tokens")
    assert foreign.status_code == 404
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    # No CSRF token, no change.
    for path, form in ((f"/tokens/{token['id']}/revoke", {}), ("/tokens", {"name": "x"})):
        for csrf in ("", "forged", csrf_of(other, "/tokens")):
            assert client.post(path, data={**form, "csrf": csrf}).status_code == 400
    names = [t["name"] for t in api.get("/api/v1/tokens", headers=alice.headers).json()["items"]]
    assert "x" not in names

    revoked = post(client, f"/tokens/{token['id']}/revoke", "/tokens")
    assert (revoked.status_code, revoked.headers["location"]) == (
        303,
        "/tokens?revoked=alices-laptop",
    )
    page = client.get(revoked.headers["location"]).text
    assert "Token alices-laptop is revoked" in page and "Revoked" in page
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_token_form_errors_are_shown_next_to_the_fields(api: TestClient, alice: Person) -> None:
    client = signed_in(api, alice)
    empty = post(client, "/tokens", "/tokens", name=" ", expires_in_days="30")
    assert empty.status_code == 422 and "This field is required." in empty.text
    assert 'id="token-name-error"' in empty.text and 'aria-invalid="true"' in empty.text
    for days, message in (("0", "out of range"), ("soon", "whole number")):
        answer = post(client, "/tokens", "/tokens", name="ci", expires_in_days=days)
        assert answer.status_code == 422 and message in answer.text
        assert not _SECRET.search(answer.text)
    never = post(client, "/tokens", "/tokens", name="forever", expires_in_days="")
    assert never.status_code == 200 and _SECRET.search(never.text)


# --- secrets ---


def test_secrets_show_names_never_values_and_only_ones_own(
    api: TestClient, alice: Person, bob: Person
) -> None:
    value = "s3cr3t-VALUE-never-shown"
    client = signed_in(api, alice)
    saved = post(
        client, "/secrets", "/secrets", project=alice.project_id, name="hf-token", value=value
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/secrets?project={alice.project_id}&saved=hf-token"
    page = client.get(saved.headers["location"]).text
    assert "hf-token" in page and "HF_TOKEN" in page and value not in page
    assert value not in client.get("/secrets").text  # the default project is the same one

    other = signed_in(api, bob)
    assert "hf-token" not in other.get("/secrets").text
    peek = other.get(f"/secrets?project={alice.project_id}")
    assert peek.status_code == 404 and "hf-token" not in peek.text
    for path, form in (
        ("/secrets", {"name": "hf-token", "value": "overwritten"}),
        ("/secrets/delete", {"name": "hf-token"}),
    ):
        answer = post(other, path, "/secrets", project=alice.project_id, **form)
        assert answer.status_code == 404, path
    names = api.get("/api/v1/secrets", headers=alice.headers).json()["items"]
    assert [s["name"] for s in names] == ["hf-token"]

    for csrf in ("", "forged", csrf_of(other, "/secrets")):
        delete = {"csrf": csrf, "project": alice.project_id, "name": "hf-token"}
        assert client.post("/secrets/delete", data=delete).status_code == 400
    assert len(api.get("/api/v1/secrets", headers=alice.headers).json()["items"]) == 1

    bad = post(client, "/secrets", "/secrets", project=alice.project_id, name="1bad", value="v")
    assert bad.status_code == 422 and 'id="secret-name-error"' in bad.text
    assert "letters, digits" in bad.text  # the service's own words
    empty = post(client, "/secrets", "/secrets", project=alice.project_id, name="ok", value="")
    assert empty.status_code == 422 and 'id="secret-value-error"' in empty.text

    gone = post(client, "/secrets/delete", "/secrets", project=alice.project_id, name="hf-token")
    assert gone.status_code == 303
    assert "Secret hf-token deleted" in client.get(gone.headers["location"]).text
    assert api.get("/api/v1/secrets", headers=alice.headers).json()["items"] == []


def test_a_viewer_may_not_set_secrets(api: TestClient, alice: Person) -> None:
    name = f"watcher-{unique()}"
    answer = api.post(
        "/api/v1/users",
        json={"name": name, "role": "viewer", "org_id": alice.org_id, "password": PASSWORD},
    )
    assert answer.status_code == 201
    client = signed_in(api, name)
    refused = post(client, "/secrets", "/secrets", name="token", value="v")
    assert refused.status_code == 403 and "Your role does not allow this." in refused.text


# --- quotas ---


def _chart(page: str) -> dict[str, Any]:
    found = re.search(r"id=\"quota-chart\"[^>]*data-chart='([^']*)'", page, re.DOTALL)
    assert found, "no quota chart"
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def test_quotas_show_use_and_borrowing_of_ones_own_tenants(
    api: TestClient, alice: Person, bob: Person
) -> None:
    quota = {"guaranteed": {"A100-80GB": 1000}, "max": {"A100-80GB": 2000}}
    assert api.put(f"/api/v1/orgs/{alice.org_id}/quota", json=quota).status_code == 200
    assert api.put(f"/api/v1/projects/{alice.project_id}/quota", json=quota).status_code == 200
    org_name = alice.name.replace("alice", "acme")
    job = submit(
        api,
        alice,
        name="two-gpus",
        command="sleep 60",
        resources={"cpu": "100m", "memory": "64MiB", "accelerator": {"count": 2}},
    )
    wait_job(api, alice, job["id"], {"running"})
    try:
        page = signed_in(api, alice).get("/quotas?key=A100-80GB")
        assert page.status_code == 200
        assert org_name in page.text and bob.name.replace("bob", "globex") not in page.text
        chart = _chart(page.text)
        series = {s["name"]: s["values"] for s in chart["series"]}
        assert chart["categories"] == [org_name, f"{org_name} / default"]
        assert series == {
            "Guaranteed": [1, 1],
            "Max": [2, 2],
            "Used": [2, 2],
            "Borrowed": [1, 1],  # two devices used on a guarantee of one
        }
        assert "200%" in page.text  # use of the guarantee
        fragment = signed_in(api, alice).get("/quotas", headers={"HX-Request": "true"})
        assert fragment.text.lstrip().startswith('<div id="quota-live"')

        others = signed_in(api, bob).get("/quotas").text
        assert org_name not in others
        everyone = operator(api).get("/quotas?key=A100-80GB").text
        assert org_name in everyone and bob.name.replace("bob", "globex") in everyone
    finally:
        api.post(f"/api/v1/jobs/{job['id']}/cancel")
        wait_job(api, alice, job["id"], TERMINAL)


def test_pages_are_complete_in_both_languages(
    api: TestClient, alice: Person, caplog: pytest.LogCaptureFixture
) -> None:
    client = signed_in(api, alice)
    caplog.set_level(logging.WARNING, logger="aicc.portal")
    for language in ("en", "zh-CN"):
        client.post("/language", data={"csrf": csrf_of(client), "language": language})
        for path in ("/quotas", "/tokens", "/secrets"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert f'<html lang="{language}">' in page.text
            assert 'href="/center' not in page.text  # no operator links for a member
            assert "<script>" not in page.text and " style=" not in page.text
            for field in re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', page.text):
                assert f'for="{field}"' in page.text, (path, field)
    assert not [r for r in caplog.records if "no message" in r.getMessage()]


# --- password ---


def test_a_person_changes_their_password_and_an_admin_resets_one(
    api: TestClient, alice: Person, bob: Person
) -> None:
    """Issue 58: no page set a password. One's own needs the current one; the center's admin
    sets another's from the directory's link (the person's sessions end); another
    organization's user is a 404 to an organization admin. Plain forms, no JavaScript."""
    client = signed_in(api, alice)
    page = client.get("/password")
    assert page.status_code == 200 and "Your password" in page.text
    assert 'name="old_password"' in page.text and PASSWORD not in page.text
    wrong = post(
        client, "/password", "/password", old_password="nope-nope", password="new-pass-1",
        password_again="new-pass-1",
    )  # fmt: skip
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    differ = post(
        client, "/password", "/password", old_password=PASSWORD, password="new-pass-1",
        password_again="new-pass-2",
    )  # fmt: skip
    assert differ.status_code == 422 and "The two passwords differ." in differ.text
    done = post(
        client, "/password", "/password", old_password=PASSWORD, password="new-pass-1",
        password_again="new-pass-1",
    )  # fmt: skip
    assert done.status_code == 303, done.text
    assert f"Password of {alice.name} set." in client.get(done.headers["location"]).text
    assert sign_in(browser(api), alice.name, "new-pass-1").status_code == 303
    assert sign_in(browser(api), alice.name, PASSWORD).status_code != 303

    admin = operator(api)
    assert f"/password?user={alice.user_id}" in admin.get("/center/tenants").text
    form = admin.get(f"/password?user={alice.user_id}")
    assert f"Password of {alice.name}" in form.text and 'name="old_password"' not in form.text
    reset = post(
        admin, "/password", f"/password?user={alice.user_id}", user=alice.user_id,
        password="reset-pass-3", password_again="reset-pass-3",
    )  # fmt: skip
    assert reset.status_code == 303, reset.text
    assert client.get("/password", follow_redirects=False).status_code in (302, 303)  # ended
    assert sign_in(browser(api), alice.name, "reset-pass-3").status_code == 303

    boss = _org_admin(api, bob.org_id)
    assert signed_in(api, boss).get(f"/password?user={alice.user_id}").status_code == 404
    assert signed_in(api, boss).get(f"/password?user={bob.user_id}").status_code == 200

    client = signed_in(api, bob)
    client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
    chinese = client.get("/password").text
    assert "您的密码" in chinese and "当前密码" in chinese


def _org_admin(api: TestClient, org_id: str) -> str:
    """A new admin of `org_id` with the tests' password; their name."""
    name = f"boss-{unique()}"
    body = {"name": name, "role": "org_admin", "org_id": org_id, "password": PASSWORD}
    assert api.post("/api/v1/users", json=body).status_code == 201
    return name
