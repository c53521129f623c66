"""usage device indexes: each compute record keeps its replica's device indexes, so a lease
tells the records it covers without reading replicas (which jobs owns); filled from the
replicas' devices

Revision ID: 0062
Revises: 0061
Create Date: 2026-11-29 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aicc.store.migrations.ops import Columns, migration

revision = "0062"
down_revision = "0061"

_INDEXES = {  # a replica's device indexes as a JSON array, by the database's own JSON functions
    "sqlite": "SELECT json_group_array(json_extract(d.value, '$.index')) "
    "FROM replicas, json_each(replicas.devices) AS d WHERE replicas.id = usage_records.replica_id",
    "postgresql": "SELECT COALESCE(json_agg((d ->> 'index')::int), '[]'::json) "
    "FROM replicas CROSS JOIN json_array_elements(replicas.devices) AS d "
    "WHERE replicas.id = usage_records.replica_id",
}


class _Filled:
    """Fill the new column of the compute records whose replica is there; undone with it."""

    def up(self) -> None:
        indexes = _INDEXES[op.get_bind().dialect.name]
        op.execute(
            f"UPDATE usage_records SET device_indexes = ({indexes}) "
            "WHERE kind = 'compute' AND replica_id IN (SELECT id FROM replicas)"
        )

    def down(self) -> None:
        pass


upgrade, downgrade = migration(
    Columns("usage_records", sa.Column("device_indexes", sa.JSON(), nullable=True)),
    _Filled(),
)
