"""Quotas on organizations and projects: who may set them, and that guarantees add up."""

from __future__ import annotations

from conftest import make_tenant
from fastapi.testclient import TestClient


def test_center_admin_shares_out_the_center_and_org_admin_its_organization(
    api: TestClient,
) -> None:
    acme = make_tenant(api, "acme", role="org_admin")
    body = {"guaranteed": {"A100": 8000, "cpu_milli": 64000}, "max": {"A100": 16000}}
    org = api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=body)
    assert org.status_code == 200, org.text
    assert org.json()["quota"]["guaranteed"] == {"A100-80GB": 8000, "cpu_milli": 64000}

    # the org admin gives its default project most of it, then a second project the rest
    first = {"guaranteed": {"A100-80GB": 6000}, "max": {"A100-80GB": 16000}}
    done = api.put(f"/api/v1/projects/{acme.project_id}/quota", json=first, headers=acme.headers)
    assert done.status_code == 200 and done.json()["quota"]["guaranteed"]["A100-80GB"] == 6000
    second = api.post("/api/v1/projects", json={"name": "vision"}, headers=acme.headers).json()
    over = {"guaranteed": {"A100-80GB": 3000}}
    refused = api.put(f"/api/v1/projects/{second['id']}/quota", json=over, headers=acme.headers)
    assert refused.status_code == 422 and "do not add up" in refused.json()["detail"]
    fits = {"guaranteed": {"A100-80GB": 2000}}
    ok = api.put(f"/api/v1/projects/{second['id']}/quota", json=fits, headers=acme.headers)
    assert ok.status_code == 200
    above_max = {"max": {"A100-80GB": 32000}}
    assert (
        api.put(
            f"/api/v1/projects/{second['id']}/quota", json=above_max, headers=acme.headers
        ).status_code
        == 422
    )
    # an org admin cannot raise its own organization's share
    assert (
        api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=body, headers=acme.headers).status_code
        == 403
    )
    # nor can the center shrink the org below what its projects were promised
    shrink = {"guaranteed": {"A100-80GB": 4000}}
    assert api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=shrink).status_code == 422


def test_bad_quotas_name_what_to_fix(api: TestClient) -> None:
    org_id = api.get("/api/v1/me").json()["org"]["id"]
    unknown = api.put(f"/api/v1/orgs/{org_id}/quota", json={"max": {"Z9000": 1000}})
    assert unknown.status_code == 422 and "Z9000" in unknown.text
    upside_down = {"guaranteed": {"cpu_milli": 8000}, "max": {"cpu_milli": 4000}}
    answer = api.put(f"/api/v1/orgs/{org_id}/quota", json=upside_down)
    assert answer.status_code == 422 and "exceeds max" in answer.json()["detail"]
    negative = api.put(f"/api/v1/orgs/{org_id}/quota", json={"max": {"pflops": -1}})
    assert negative.status_code == 422
