"""Migration 0062 fills each compute record's `device_indexes` from its replica's devices, on
SQLite and PostgreSQL: a lease's coverage of the records written before it reads the column."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from aicc.store.db import MIGRATIONS
from aicc.testing.postgres import PostgresServer

AT = "2026-11-01 00:00:00"
REPLICAS = (  # id, devices as the scheduler binds them
    ("r-two", [{"index": 3, "milli": 1000, "memory_mib": 0}, {"index": 1, "milli": 500}]),
    ("r-cpu", []),
)
RECORDS = (  # id, kind, replica_id
    (1, "compute", "r-two"),
    (2, "compute", "r-cpu"),
    (3, "compute", "r-gone"),  # its replica is not there
    (4, "storage", "r-two"),  # not compute: left alone
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aicc.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"m{os.getpid()}_0062")


def test_compute_records_get_their_replicas_device_indexes(url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "0061")
    engine = create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # no jobs or nodes behind these replicas
            connection.execute(text("SET session_replication_role = replica"))
        for n, (replica_id, devices) in enumerate(REPLICAS):
            connection.execute(
                text(
                    'INSERT INTO replicas (id, job_id, attempt, "index", node_id, devices, '
                    "cpu_milli, memory_mib, state, bound_at, rendezvous) VALUES (:id, 'j', 0, :n, "
                    "'n', :devices, 1000, 1024, 'exited', :at, '{}')"
                ),
                {"id": replica_id, "n": n, "devices": json.dumps(devices), "at": AT},
            )
        for record_id, kind, replica_id in RECORDS:
            connection.execute(
                text(
                    "INSERT INTO usage_records (id, key, kind, org_id, replica_id, accelerator, "
                    "simulated, devices, milli, cpu_milli, memory_mib, storage_bytes, energy_kwh, "
                    '"start", "end", duration_us, period, created_at) VALUES (:id, :key, :kind, '
                    "'o', :replica, '', false, 0, 0, 0, 0, 0, 0, :at, :at, 0, '2026-11', :at)"
                ),
                {"id": record_id, "key": f"k{record_id}", "kind": kind, "replica": replica_id}
                | {"at": AT},
            )
    command.upgrade(config, "0062")
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, device_indexes FROM usage_records ORDER BY id")
        ).all()
    engine.dispose()
    found = {i: json.loads(v) if isinstance(v, str) else v for i, v in rows}
    assert found == {1: [3, 1], 2: [], 3: None, 4: None}
