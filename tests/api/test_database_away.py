"""While the database is away (PostgreSQL restarting, unreachable), the API says so with a 503
and Retry-After, as it does for data set storage, instead of an unexplained 500; once it is
back the same server answers again (benchmarks/chaos.py --postgres-restarts saw the 500s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.testing.postgres import start_postgres
from aicc.testing.servers import in_process

pytestmark = pytest.mark.postgres


def test_a_database_restart_answers_503_then_the_server_carries_on(tmp_path: Path) -> None:
    postgres = start_postgres(tmp_path / "pg")  # its own: the shared one is not stopped
    postgres.durable()  # the crash must not take the admin's token with it
    try:
        with in_process(tmp_path / "home", db=postgres.url) as (api, _state):
            assert api.get("/api/v1/jobs").status_code == 200
            postgres.crash()
            away = api.get("/api/v1/jobs")
            assert away.status_code == 503, away.text
            assert away.headers["Retry-After"] == "5"
            assert "database is unavailable" in away.json()["detail"]
            postgres.start()
            assert api.get("/api/v1/jobs").status_code == 200
    finally:
        postgres.stop()
