"""`/api/v1/notebooks` (SQLite and PostgreSQL): what a bad request is told, who may make one,
and that a notebook is its owner's alone. Notebooks here are made stopped (`start: false`):
tests/services/jobs/test_notebooks.py runs JupyterLab."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aicc.api.state import AppState
from aicc.executors.slurm import SlurmCommands, SlurmExecutor
from aicc.testing.tenants import Tenant, make_tenant

STOPPED = {"start": False}
# What a body, a role or the engines refuse is refused before any query of notebooks: SQLite
# alone. Making, listing and deleting them, and who sees one, run on both.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_bad_notebook_is_a_422_naming_the_field(api: TestClient) -> None:
    cases = {
        "name": {"name": "Not A Name"},
        "idle_timeout_s": {"name": "nb", "idle_timeout_s": 0},
        "cpu": {"name": "nb", "resources": {"cpu": "-1"}},
        "memory": {"name": "nb", "resources": {"memory": "lots"}},
        "datasets": {"name": "nb", "datasets": ["Bad Name"]},
        "nope": {"name": "nb", "nope": 1},
    }
    for field, body in cases.items():
        answer = api.post("/api/v1/notebooks", json={**body, **STOPPED})
        assert answer.status_code == 422, (field, answer.text)
        assert field in answer.text, (field, answer.text)
    # a data set the project does not have: named, before anything starts
    missing = api.post("/api/v1/notebooks", json={"name": "nb", "datasets": ["ghost"], **STOPPED})
    assert missing.status_code == 404 and "ghost" in missing.text
    assert api.get("/api/v1/notebooks").json()["items"] == []


def test_a_notebook_is_made_listed_and_deleted_by_its_owner(api: TestClient) -> None:
    body = {"name": "nb", "resources": {"cpu": "2", "memory": "4Gi"}, "idle_timeout_s": 600}
    made = api.post("/api/v1/notebooks", json={**body, **STOPPED})
    assert made.status_code == 201, made.text
    notebook = made.json()
    assert notebook["state"] == "stopped" and notebook["job_id"] is None
    assert notebook["resources"]["cpu_milli"] == 2000
    assert notebook["resources"]["memory_mib"] == 4096
    assert notebook["idle_timeout_s"] == 600 and notebook["datasets"] is None
    again = api.post("/api/v1/notebooks", json={"name": "nb", **STOPPED})
    assert again.status_code == 409 and "already exists" in again.text
    assert [n["name"] for n in api.get("/api/v1/notebooks").json()["items"]] == ["nb"]
    assert api.get(f"/api/v1/notebooks/{notebook['id']}").json()["name"] == "nb"
    # stopping a notebook that never started changes nothing
    assert api.post("/api/v1/notebooks/nb/stop").json()["state"] == "stopped"
    assert api.delete("/api/v1/notebooks/nb").status_code == 204
    assert api.get("/api/v1/notebooks/nb").status_code == 404


def test_only_the_owner_sees_a_notebook(api: TestClient, tenant_b: Tenant) -> None:
    made = api.post("/api/v1/notebooks", json={"name": "mine", **STOPPED}).json()
    me = api.get("/api/v1/me").json()
    project = me["projects"][0]["id"]
    # a member of the very same project
    colleague = api.post(
        "/api/v1/users", json={"name": "colleague", "role": "member", "projects": [project]}
    ).json()
    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": colleague["id"]}).json()
    mate = {"Authorization": f"Bearer {token['secret']}"}
    for headers in (mate, tenant_b.headers):
        for ref in ("mine", made["id"]):
            assert api.get(f"/api/v1/notebooks/{ref}", headers=headers).status_code == 404
            for verb in ("start", "stop"):
                answer = api.post(f"/api/v1/notebooks/{ref}/{verb}", headers=headers)
                assert answer.status_code == 404
            assert api.delete(f"/api/v1/notebooks/{ref}", headers=headers).status_code == 404
        assert api.get("/api/v1/notebooks", headers=headers).json()["items"] == []
    # the colleague may have one of the same name in the same project: it is another notebook
    theirs = api.post("/api/v1/notebooks", json={"name": "mine", **STOPPED}, headers=mate)
    assert theirs.status_code == 201 and theirs.json()["id"] != made["id"]
    # another tenant cannot put one into this project
    foreign = api.post(
        "/api/v1/notebooks",
        json={"name": "sneaky", "project": project, **STOPPED},
        headers=tenant_b.headers,
    )
    assert foreign.status_code == 404
    assert api.get("/api/v1/notebooks/mine").json()["id"] == made["id"]


@sqlite_only
def test_viewers_cannot_make_notebooks(api: TestClient) -> None:
    viewer = make_tenant(api, "lookers", role="viewer")
    refused = api.post("/api/v1/notebooks", json={"name": "nb", **STOPPED}, headers=viewer.headers)
    assert refused.status_code == 403 and "viewers cannot create notebooks" in refused.text


@sqlite_only
def test_a_center_whose_engines_give_no_home_refuses_to_start_one(
    server: tuple[TestClient, AppState], tmp_path: Path
) -> None:
    """A center on Slurm only (no persistent homes there yet): a clear 409 before any job."""
    api, state = server
    local = state.executors
    state.executors = {"slurm": SlurmExecutor(base_dir=tmp_path, commands=SlurmCommands())}
    try:
        refused = api.post("/api/v1/notebooks", json={"name": "nb"})
        assert refused.status_code == 409
        assert "cannot give a notebook its persistent home" in refused.text
        assert api.get("/api/v1/jobs").json()["items"] == []
        made = api.post("/api/v1/notebooks", json={"name": "nb", **STOPPED})
        assert made.status_code == 201  # made stopped: nothing to run yet
        assert api.post("/api/v1/notebooks/nb/start").status_code == 409
    finally:
        state.executors = local
