"""data set storage levels: each project's distinct chunk bytes over time, for the meter

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Log, ix, migration, refs

revision = "0010"
down_revision = "0009"

upgrade, downgrade = migration(
    Log(
        "data_storage_levels",
        sa.Column("project_id", ID, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("at", AT, nullable=False),
        *refs(("project_id", "projects.id")),
        indexes=[ix("ix_data_storage_levels_project_at", "project_id", "at")],
    ),
)
