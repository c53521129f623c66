"""gateway_load: each server's requests in flight per deployment and second, for the leader's
autoscaler to add up (one server's gateway saw only its own share before)

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-25 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import ID, Table, migration

revision = "0029"
down_revision = "0028"

upgrade, downgrade = migration(
    Table(
        "gateway_load",
        sa.Column("server", sa.String(length=200), nullable=False),
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("second", sa.Float(), nullable=False),
        sa.Column("concurrency", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("server", "deployment_id", "second"),
    ),
)
