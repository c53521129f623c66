"""The fault harness on a small budget: clients submit while servers die with `kill -9` at random
moments (and supervisors, and PostgreSQL restarts); afterwards every accepted job ran once, in
its true state, with its logs, billed once, nothing is stuck, the audit chain verifies and a
damaged stored blob is refused (aicc/testing/chaos.py; benchmarks/chaos.py runs the large
budgets recorded in BENCHMARKS.md, and fills the disk, which needs root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.testing.chaos import run
from aicc.testing.chaos_report import Plan, Report
from aicc.testing.postgres import start_postgres

pytestmark = pytest.mark.slow


def assert_kept_every_promise(report: Report, kills: int, jobs: int) -> None:
    summary = report.summary()
    assert summary["violations"] == {}, report.details()
    assert summary["kills"] == kills
    assert summary["jobs_accepted"] == summary["jobs_created"] == jobs, summary
    assert summary["audit_intact"] is True


def test_one_server_killed_5_times_loses_repeats_and_serves_nothing_wrong(
    tmp_path: Path,
) -> None:
    plan = Plan(
        clients=4,
        jobs=25,
        kills=5,
        supervisor_kills=2,
        corrupt_blob=True,
        gap_s=(0.1, 0.6),
        long_s=(0.5, 2.0),
    )
    report = run(tmp_path, plan)
    assert_kept_every_promise(report, kills=5, jobs=25)
    assert report.takeovers == 5  # each kill left a server that had to take the work back
    assert report.blob_check is not None and "does not match its checksum" in report.blob_check


@pytest.mark.postgres
def test_two_servers_fail_over_within_10_s_and_survive_postgresql_restarts(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    postgres = start_postgres(tmp_path / "pg")  # its own: restarting the shared one cuts others
    request.addfinalizer(postgres.stop)
    url = postgres.url
    plan = Plan(
        clients=2,
        jobs=10_000,  # a cap only: steady clients submit until the last kill
        steady=True,
        rate=4,
        kills=2,
        postgres_restarts=1,
        postgres=postgres,
        servers=2,
        db=url,
        target="leader",
        gap_s=(0.5, 1.0),
        long_s=(0.5, 2.0),
        drain_s=90,
    )
    report = run(tmp_path, plan)
    summary = report.summary()
    assert summary["violations"] == {}, report.details()
    assert summary["leader_kills"] == 2 and summary["lease_takeovers"] == 2, summary
    failover = report.failover()
    assert failover is not None and failover["max_s"] < 10, failover
    assert report.availability() == 1.0  # the survivor answered every call meanwhile
