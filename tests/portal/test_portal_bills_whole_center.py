"""The bills page of an organization with every kind of invoice line at once (issue 58): a
lease's charge, a reward held in escrow for a posted need and its ordinary jobs' usage, as the
operator's organization filter and the organization's admin open it, in English and Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from portal_support import (
    PASSWORD,
    TERMINAL,
    Person,
    csrf_of,
    operator,
    signed_in,
    submit,
    unique,
    wait_job,
    wait_usage,
)

from aicc.api.state import AppState
from aicc.core import periods

NODE = {"name": "bills-1", "cpu": 4, "memory": "8GiB", "pool": "bills"}
NODE["devices"] = [{"model": "A100-80GB", "count": 1, "simulated": True}]


def _org_admin(api: TestClient, org: str) -> Person:
    """A new organization whose one user is its admin, with a password and a token."""
    org_id = api.post("/api/v1/orgs", json={"name": org}).json()["id"]
    body = {"name": f"{org}-admin", "role": "org_admin", "org_id": org_id, "password": PASSWORD}
    user = api.post("/api/v1/users", json=body)
    assert user.status_code == 201, user.text
    made = user.json()
    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": made["id"]}).json()
    return Person(made["name"], made["id"], org_id, made["default_project_id"], token["secret"])


def test_the_bills_of_an_org_with_a_lease_a_need_and_jobs(
    site: tuple[TestClient, AppState],
) -> None:
    api, state = site
    assert api.post("/api/v1/nodes/import", json={"nodes": [NODE]}).status_code == 200
    plan = {"name": "whole-center", "pflops_hour": "9.50"}
    start = datetime.now(UTC) - timedelta(days=2)
    plan["effective_from"] = start.replace(minute=0, second=0, microsecond=0).isoformat()
    assert api.post("/api/v1/price-plans", json=plan).status_code == 201
    admin = _org_admin(api, f"whole-{unique()}")
    now = datetime.now(UTC)
    lease = {"org": admin.org_id, "nodes": ["bills-1"], "from": now.isoformat()}
    lease.update(to=(now + timedelta(days=30)).isoformat(), plan="dedicated")
    answer = api.post("/api/v1/leases", json=lease)
    assert answer.status_code == 201, answer.text
    need = {"name": "rain", "title": "Rain tomorrow?", "problem": "Which days bring rain?"}
    need.update(metric="accuracy", reward="5000.00")
    need["deadline"] = (now + timedelta(days=7)).isoformat()
    answer = api.post("/api/v1/needs", json=need, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    job = submit(api, admin, command="true")
    wait_job(api, admin, job["id"], TERMINAL)
    wait_usage(api, admin, job["id"])
    month = periods.month_of(datetime.now(UTC), state.settings.site.timezone)
    lines = api.get(
        "/api/v1/bills", params={"month": month, "org": admin.org_id}, headers=admin.headers
    ).json()["lines"]
    assert {"usage", "lease", "need_escrow"} <= {line["kind"] for line in lines}, lines
    assert all(line.keys() == lines[0].keys() for line in lines)  # one shape for every kind
    path = f"/bills?month={month}&org={admin.org_id}"
    for client in (operator(api), signed_in(api, admin)):
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "Reward of need rain, held in escrow" in page.text and "5,000.00" in page.text
        assert "lease" in page.text and job["id"][-8:] in page.text
        client.post("/language", data={"csrf": csrf_of(client), "language": "zh-CN"})
        chinese = client.get(path)
        assert chinese.status_code == 200, chinese.text
        assert "5,000.00" in chinese.text and job["id"][-8:] in chinese.text
