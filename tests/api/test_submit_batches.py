"""Submits arriving together are committed in batches (store/group_commit.py): the answers are
those each would have had alone. On SQLite and PostgreSQL, over a real socket."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from aicc.testing.servers import over_http

SPEC = {"command": "true", "resources": {"cpu": "100m"}}


def test_a_burst_past_the_pending_limit_gets_exactly_the_limit_accepted(
    tmp_path: Path, db_url: str | None
) -> None:
    """Twenty at once against a limit of five: five jobs, fifteen 429s saying why, whatever
    batches they fell in; a key sent four times at once is one job, answered 201 once and 200
    after."""
    limits = {"max_pending_per_user": 5}
    with over_http(tmp_path / "home", db_url, loops=False, limits=limits) as (url, token, _):

        def post(key: str) -> httpx.Response:
            with httpx.Client(
                timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
            ) as c:
                return c.post("/api/v1/jobs", json=SPEC, headers={"Idempotency-Key": key})

        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(post, [f"k-{i}" for i in range(20)]))
        codes = sorted(answer.status_code for answer in burst)
        assert codes == [201] * 5 + [429] * 15
        refused = next(answer for answer in burst if answer.status_code == 429)
        assert "jobs waiting already" in refused.json()["detail"]
        with httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            listed = api.get("/api/v1/jobs", params={"limit": 100}).json()["items"]
            assert len(listed) == 5
            accepted = {a.json()["id"] for a in burst if a.status_code == 201}
            assert {job["id"] for job in listed} == accepted

            for job in listed:  # room again: cancel what waits
                api.post(f"/api/v1/jobs/{job['id']}/cancel").raise_for_status()
        with ThreadPoolExecutor(4) as pool:
            same = list(pool.map(post, ["again"] * 4))
        assert sorted(answer.status_code for answer in same) == [200, 200, 200, 201]
        assert len({answer.json()["id"] for answer in same}) == 1
