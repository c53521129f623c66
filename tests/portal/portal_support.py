"""Helpers for the portal's tests: people with passwords, a browser-like client, signing in."""

from __future__ import annotations

import html
import itertools
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery"
TERMINAL = {"succeeded", "failed", "cancelled"}
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
_numbers = itertools.count(1)


def unique() -> int:
    """A number no other call returns, for names a test makes on a shared server."""
    return next(_numbers)


@dataclass
class Person:
    """A user with a password and an API token, alone in their own organization."""

    name: str
    user_id: str
    org_id: str
    project_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_person(api: TestClient | httpx.Client, org: str, name: str) -> Person:
    """A new organization `org` with one member `name` whose password is PASSWORD."""
    org_row = api.post("/api/v1/orgs", json={"name": org}).json()
    user = api.post(
        "/api/v1/users",
        json={"name": name, "role": "member", "org_id": org_row["id"], "password": PASSWORD},
    )
    assert user.status_code == 201, user.text
    body = user.json()
    token = api.post("/api/v1/tokens", json={"name": "test", "user_id": body["id"]}).json()
    return Person(name, body["id"], org_row["id"], body["default_project_id"], token["secret"])


def browser(
    api: TestClient, *, https: bool = False, address: str = "testclient", **headers: str
) -> TestClient:
    """A client of the same app with no bearer token: it has only the cookies it is given, and
    connects from `address`."""
    base = "https://testserver" if https else "http://testserver"
    return TestClient(api.app, base_url=base, headers=headers, client=(address, 50000))


def sign_in(
    client: TestClient, username: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    """Open the sign-in page (for its CSRF cookie) and post the form, as a browser does."""
    page = client.get("/sign-in")
    assert page.status_code in (200, 303), page.text
    form = {"csrf": client.cookies.get("aicc_csrf") or "", "username": username}
    form.update(password=password, **extra)
    return client.post("/sign-in", data=form, follow_redirects=False)


def signed_in(api: TestClient, person: Person | str) -> TestClient:
    """A browser signed in with the person's password."""
    client = browser(api)
    assert sign_in(client, person if isinstance(person, str) else person.name).status_code == 303
    return client


def sign_in_with_token(client: TestClient, token: str) -> httpx.Response:
    """Sign in with an API token (the admin has no password), as the sign-in page's form does."""
    client.get("/sign-in")
    form = {"csrf": client.cookies.get("aicc_csrf") or "", "token": token}
    return client.post("/sign-in", data=form, follow_redirects=False)


def operator(api: TestClient) -> TestClient:
    """A browser signed in as the center's admin, with the admin token the test client uses."""
    client = browser(api)
    answer = sign_in_with_token(client, api.headers["Authorization"].split()[1])
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token in the forms of a page, as the browser would submit it."""
    page = client.get(path)
    found = _CSRF_FIELD.search(page.text)
    assert found, f"no CSRF field on {path}: {page.status_code}"
    return found.group(1)


def submit(api: TestClient | httpx.Client, person: Person, **spec: Any) -> dict[str, Any]:
    spec.setdefault("resources", {"cpu": "100m", "memory": "64MiB"})
    answer = api.post("/api/v1/jobs", json=spec, headers=person.headers)
    assert answer.status_code == 201, answer.text
    job: dict[str, Any] = answer.json()
    return job


def wait_job(
    api: TestClient | httpx.Client,
    person: Person,
    job_id: str,
    states: set[str],
    timeout: float = 30,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}", headers=person.headers).json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job['state']}: {job['message']}")
        time.sleep(0.05)


def wait_usage(
    api: TestClient | httpx.Client, person: Person, job_id: str, timeout: float = 15
) -> list[dict[str, Any]]:
    """The job's usage records, once the meter has written some."""
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"/api/v1/usage?job={job_id}", headers=person.headers)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        if items:
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"no usage was metered for {job_id}")
        time.sleep(0.05)


def post_form(client: TestClient, path: str, page: str, **form: str | list[str]) -> httpx.Response:
    """A form of `page` posted with that page's CSRF token, as the browser would."""
    answer: httpx.Response = client.post(
        path, data={"csrf": csrf_of(client, page), **form}, follow_redirects=False
    )
    return answer


def shown(answer: httpx.Response) -> str:
    """A page's text as a reader sees it (entities unescaped)."""
    return html.unescape(answer.text)
