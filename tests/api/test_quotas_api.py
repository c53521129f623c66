"""Quotas on organizations and projects: who may set them, and that guarantees add up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process
from aicc.testing.tenants import make_tenant

# A quota refused for its own values (an unknown resource, upside down, out of range) is
# refused before anything is read or stored: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


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
    assert refused.status_code == 422, refused.text
    assert (
        "A100-80GB 3000 is more than the organization has left to give (2000 available"
        in (refused.json()["detail"])
    )
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


@sqlite_only
def test_bad_quotas_name_what_to_fix(api: TestClient) -> None:
    org_id = api.get("/api/v1/me").json()["org"]["id"]
    unknown = api.put(f"/api/v1/orgs/{org_id}/quota", json={"max": {"Z9000": 1000}})
    assert unknown.status_code == 422 and "Z9000" in unknown.text
    upside_down = {"guaranteed": {"cpu_milli": 8000}, "max": {"cpu_milli": 4000}}
    answer = api.put(f"/api/v1/orgs/{org_id}/quota", json=upside_down)
    assert answer.status_code == 422 and "exceeds max" in answer.json()["detail"]
    negative = api.put(f"/api/v1/orgs/{org_id}/quota", json={"max": {"pflops": -1}})
    assert negative.status_code == 422
    for huge in (1e308, 1e16):
        answer = api.put(f"/api/v1/orgs/{org_id}/quota", json={"max": {"cpu_milli": huge}})
        assert answer.status_code == 422 and "from 0 to" in answer.text
    nan = api.put(
        f"/api/v1/orgs/{org_id}/quota",
        content=b'{"guaranteed": {"cpu_milli": NaN}}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422


def test_an_org_admin_cannot_give_its_projects_what_the_center_never_gave(api: TestClient) -> None:
    acme = make_tenant(api, "acme", role="org_admin")
    # nothing from the center yet: no guarantee of any resource to share out
    selfish = {"guaranteed": {"cpu_milli": 2000}}
    refused = api.put(
        f"/api/v1/projects/{acme.project_id}/quota", json=selfish, headers=acme.headers
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "guaranteed cpu_milli: the organization has none to give (0 available" in detail
    # not even 0: that would govern CPUs and strip every tenant's CPU jobs of their protection
    none = {"guaranteed": {"cpu_milli": 0}}
    refused = api.put(f"/api/v1/projects/{acme.project_id}/quota", json=none, headers=acme.headers)
    assert refused.status_code == 422 and "cpu_milli" in refused.json()["detail"]

    # given GPUs, not CPUs: the GPUs can be shared out, the CPUs still cannot
    center = {"guaranteed": {"A100-80GB": 2000}, "max": {"A100-80GB": 4000}}
    assert api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=center).status_code == 200
    both = {"guaranteed": {"A100-80GB": 2000, "cpu_milli": 1000}}
    refused = api.put(f"/api/v1/projects/{acme.project_id}/quota", json=both, headers=acme.headers)
    assert refused.status_code == 422 and "cpu_milli" in refused.json()["detail"]
    assert "A100-80GB" not in refused.json()["detail"]
    roomy = {"max": {"A100-80GB": 8000}}
    refused = api.put(f"/api/v1/projects/{acme.project_id}/quota", json=roomy, headers=acme.headers)
    assert refused.status_code == 422
    assert "max A100-80GB 8000 exceeds the organization's max (4000)" in refused.json()["detail"]
    fair = {"guaranteed": {"A100-80GB": 2000}, "max": {"A100-80GB": 4000}}
    assert (
        api.put(
            f"/api/v1/projects/{acme.project_id}/quota", json=fair, headers=acme.headers
        ).status_code
        == 200
    )
    # the center admin is held to the same tree when it sets a project's quota
    extra = api.post("/api/v1/projects", json={"name": "extra", "org_id": acme.org_id}).json()
    more = {"guaranteed": {"A100-80GB": 1000}}
    refused = api.put(f"/api/v1/projects/{extra['id']}/quota", json=more)
    assert refused.status_code == 422 and "(0 available of its 2000)" in refused.json()["detail"]


def test_an_org_is_not_cut_below_what_its_projects_hold_and_the_answer_names_them(
    api: TestClient,
) -> None:
    acme = make_tenant(api, "acme", role="org_admin")
    center = {"guaranteed": {"A100-80GB": 4000, "cpu_milli": 8000}, "max": {"A100-80GB": 8000}}
    assert api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=center).status_code == 200
    vision = api.post("/api/v1/projects", json={"name": "vision"}, headers=acme.headers).json()
    share = {"guaranteed": {"A100-80GB": 3000, "cpu_milli": 8000}, "max": {"A100-80GB": 6000}}
    put = api.put(f"/api/v1/projects/{vision['id']}/quota", json=share, headers=acme.headers)
    assert put.status_code == 200, put.text

    # dropping the CPUs the project holds, and a max below the project's
    cut = {"guaranteed": {"A100-80GB": 4000}, "max": {"A100-80GB": 5000}}
    refused = api.put(f"/api/v1/orgs/{acme.org_id}/quota", json=cut)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert "guaranteed cpu_milli 0 is less than its projects hold (8000: vision 8000)" in detail
    assert "max A100-80GB 5000 is less than its projects' max (vision 6000)" in detail
    assert api.get(f"/api/v1/orgs/{acme.org_id}").json()["quota"] == center


POOL = {
    "nodes": [
        {
            "name": "gpu-1",
            "cpu": 8,
            "memory": "64GiB",
            "pool": "shared",
            "devices": [{"model": "A100-80GB", "count": 1, "simulated": True}],
        }
    ]
}


def one_gpu(project: str, priority: str = "normal") -> dict:
    """A job on the one GPU until `release(...)` (a file in its outputs: the sandbox shows a
    job nothing else of the machine)."""
    return {
        "command": 'while [ ! -e "$AICC_OUTPUT_DIR/release" ]; do sleep 0.2; done',
        "project": project,
        "priority": priority,
        "resources": {"cpu": 1, "memory": "1GiB", "accelerator": {"count": 1}},
        "max_runtime": "10m",
    }


def release(home: Path, job_id: str) -> None:
    (home / "runs" / job_id / "outputs" / "release").touch()


def theirs_run_on_while_mine_waits(api: TestClient, home: Path, theirs: str, mine: str) -> None:
    """Their job is never preempted (the issue saw it preempted within 10 s) while mine waits;
    released, theirs ends as it should."""
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/jobs/{theirs}").json()
        assert job["state"] == "running" and job["attempt"] == 0, (job["state"], job["message"])
        time.sleep(0.3)
    assert api.get(f"/api/v1/jobs/{mine}").json()["state"] in ("pending", "admitted")
    release(home, theirs)
    assert wait_state(api, theirs, {"succeeded", "failed"})["state"] == "succeeded"


def test_a_tenant_cannot_preempt_another_with_a_guarantee_it_gave_itself(tmp_path: Path) -> None:
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, _state):
        assert api.post("/api/v1/nodes/import", json=POOL).status_code == 200
        globex = make_tenant(api, "globex")
        acme = make_tenant(api, "acme", role="org_admin")
        theirs = submit(api, one_gpu(globex.project_id), **globex.headers)
        wait_state(api, theirs["id"], {"running"})

        grab = {"guaranteed": {"A100-80GB": 1000, "cpu_milli": 2000}}
        answer = api.put(
            f"/api/v1/projects/{acme.project_id}/quota", json=grab, headers=acme.headers
        )
        assert answer.status_code == 422, answer.text
        assert "guaranteed A100-80GB: the organization has none to give (0 available" in answer.text

        mine = submit(api, one_gpu(acme.project_id), **acme.headers)
        theirs_run_on_while_mine_waits(api, tmp_path / "home", theirs["id"], mine["id"])


def test_a_guarantee_of_nothing_cannot_strip_another_tenants_protection(tmp_path: Path) -> None:
    """Globex runs within the GPU guarantee the center gave it, safe from other tenants'
    priority. A guarantee of 0 CPUs would make CPUs a governed resource, put globex's job over
    its (absent) CPU guarantee and let acme's high-priority job preempt it."""
    with in_process(tmp_path / "home", limits={"grace_s": 1.0}) as (api, _state):
        assert api.post("/api/v1/nodes/import", json=POOL).status_code == 200
        globex = make_tenant(api, "globex")
        share = {"guaranteed": {"A100-80GB": 1000}, "max": {"A100-80GB": 1000}}
        assert api.put(f"/api/v1/orgs/{globex.org_id}/quota", json=share).status_code == 200
        assert api.put(f"/api/v1/projects/{globex.project_id}/quota", json=share).status_code == 200
        acme = make_tenant(api, "acme", role="org_admin")
        theirs = submit(api, one_gpu(globex.project_id), **globex.headers)
        wait_state(api, theirs["id"], {"running"})

        nothing = {"guaranteed": {"cpu_milli": 0}}
        answer = api.put(
            f"/api/v1/projects/{acme.project_id}/quota", json=nothing, headers=acme.headers
        )
        assert answer.status_code == 422, answer.text
        mine = submit(api, one_gpu(acme.project_id, "high"), **acme.headers)
        theirs_run_on_while_mine_waits(api, tmp_path / "home", theirs["id"], mine["id"])
