"""dataset mounts: each data set version a job mounts as a row, written with its submit, so the
marketplace counts a set's mounts by an index instead of unpacking every job's pinned versions;
filled from the jobs' pins

Revision ID: 0049
Revises: 0048
Create Date: 2026-11-27 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aicc.store.migrations.ops import ID, Table, migration, refs

revision = "0049"
down_revision = "0048"

_PINS = {  # each job's pinned versions, unpacked by the database's own JSON function
    "sqlite": "jobs, json_each(jobs.datasets) AS pin "
    "JOIN dataset_versions ON dataset_versions.id = json_extract(pin.value, '$.version_id')",
    "postgresql": "jobs CROSS JOIN json_array_elements(jobs.datasets) AS pin "
    "JOIN dataset_versions ON dataset_versions.id = pin ->> 'version_id'",
}


class _Filled:
    """Fill the new table from the jobs' pins; undone with the table."""

    def up(self) -> None:
        pins = _PINS[op.get_bind().dialect.name]
        op.execute(
            "INSERT INTO dataset_mounts (job_id, version_id, dataset_id) "
            f"SELECT DISTINCT jobs.id, dataset_versions.id, dataset_versions.dataset_id FROM {pins}"
        )

    def down(self) -> None:
        pass


upgrade, downgrade = migration(
    Table(
        "dataset_mounts",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("dataset_id", ID, nullable=False),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id", "version_id"),
        indexes=["dataset_id"],
    ),
    _Filled(),
)
