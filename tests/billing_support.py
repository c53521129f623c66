"""Builders for billing tests on a bare store: a fresh store with the default tenancy (SQLite
and PostgreSQL), and a job with one running replica on a node of two A100s."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from aicc.services.billing.meter import PowerModel
from aicc.services.common import new_id
from aicc.services.tenancy import tenancy
from aicc.store.db import Database, open_database
from aicc.store.tables.jobs import JobRow, ReplicaRow
from aicc.store.tables.nodes import DeviceRow, NodeRow
from aicc.store.tables.tenancy import ProjectRow, QueueRow, UserRow
from aicc.testing.servers import seeded

T0 = datetime(2026, 11, 3, 9, 20, tzinfo=UTC)
POWER = PowerModel(pue=1.25, idle_fraction=0.15, assumed_utilization=1.0)


def fresh_store(tmp_path: Path, db_url: str | None) -> Iterator[Database]:
    """A fresh store (SQLite and PostgreSQL) with the default organization and project; each
    test module wraps it in its own `db` fixture."""
    seeded(tmp_path, db_url)  # SQLite: a copy at the newest revision, not 48 migrations again
    database = open_database(db_url, tmp_path)
    with database.session() as session:
        tenancy.bootstrap(session)
    yield database
    database.dispose()


def running_replica(
    db: Database,
    devices: list[tuple[int, int]],
    *,
    simulated: bool = False,
    uuids: tuple[str, ...] = (),
    started: datetime | None = None,
) -> str:
    """A job with one replica on a node with two A100s, started at T0, still running."""
    started = started or T0
    with db.session() as session:
        user = session.scalars(select(UserRow)).one()
        project = session.scalars(select(ProjectRow)).one()
        queue = session.scalars(select(QueueRow)).one()
        node = NodeRow(
            id=new_id("node"), name=new_id("node"), cpu_milli=8000, memory_mib=65536,
            created_at=T0,
        )  # fmt: skip
        session.add(node)
        session.flush()
        for index in range(2):
            session.add(
                DeviceRow(
                    id=new_id("dev"), node_id=node.id, index=index, model="A100-80GB",
                    memory_mib=81920, simulated=simulated,
                    uuid=uuids[index] if uuids else None,
                )
            )  # fmt: skip
        job = JobRow(
            id=new_id("job"), name="j", org_id=project.org_id, project_id=project.id,
            queue_id=queue.id, user_id=user.id, kind="train", spec={"command": "x"},
            priority=100, state="running", reason="started", created_at=T0, updated_at=T0,
        )  # fmt: skip
        session.add(job)
        session.flush()
        rep = ReplicaRow(
            id=new_id("rep"), job_id=job.id, attempt=0, index=0, node_id=node.id,
            devices=[{"index": i, "milli": m} for i, m in devices], cpu_milli=2000,
            memory_mib=4096, state="running", bound_at=started, started_at=started,
        )  # fmt: skip
        session.add(rep)
        return rep.id
