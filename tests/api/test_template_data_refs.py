"""A malformed data set reference given to the templates' catalog or to a run is the caller's
mistake: a 422 naming the field, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

# The reference is parsed before anything is looked up: SQLite alone.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@sqlite_only
def test_a_malformed_data_reference_is_a_422(api: TestClient) -> None:
    listed = api.get("/api/v1/templates", params={"data": "%bad ref"})
    assert listed.status_code == 422 and listed.json()["detail"].startswith("data: ")
    run = api.post("/api/v1/templates/credit-risk/runs", json={"data": "Bad Name@1"})
    assert run.status_code == 422 and "data set name" in run.json()["detail"]
    assert api.get("/api/v1/jobs").json()["items"] == []
