"""Servers built in one process share the API's and the portal's prepared routes
(`api/app.py`'s `prepared`), yet each answers from its own state: its own store, its own jobs,
its own OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from aicc.api.app import api_routes
from aicc.portal.web import portal_routes
from aicc.testing.servers import in_process


def test_two_servers_share_the_routes_and_keep_their_own_state(tmp_path: Path) -> None:
    with (
        in_process(tmp_path / "a", loop_interval_s=60) as (a, _),
        in_process(tmp_path / "b", loop_interval_s=60) as (b, _),
    ):
        assert a.app is not b.app
        for client in (a, b):
            routes = client.app.router.routes  # type: ignore[attr-defined]
            assert all(route in routes for route in (*api_routes(), *portal_routes()))

        submitted = a.post("/api/v1/jobs", json={"command": "true", "name": "only-on-a"})
        assert submitted.status_code == 201, submitted.text
        assert [j["name"] for j in a.get("/api/v1/jobs").json()["items"]] == ["only-on-a"]
        assert b.get("/api/v1/jobs").json()["items"] == []
        assert b.get(f"/api/v1/jobs/{submitted.json()['id']}").status_code == 404

        # each token is its own server's: a's admin is a stranger to b
        stranger = b.get("/api/v1/jobs", headers={"Authorization": a.headers["Authorization"]})
        assert stranger.status_code == 401

        spec_a, spec_b = a.get("/openapi.json").json(), b.get("/openapi.json").json()
        assert spec_a["paths"] == spec_b["paths"]
        assert "/api/v1/jobs" in spec_a["paths"] and "Error" in spec_a["components"]["schemas"]
        assert b.get("/jobs", headers={"Accept": "text/html"}).status_code in (200, 303)
