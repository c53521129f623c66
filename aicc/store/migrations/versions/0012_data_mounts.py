"""data mounts: jobs' pinned data set versions, and what each node's data cache holds

`jobs.datasets` keeps the exact versions a job's `datasets` resolved to at submit;
`node_data` records the versions a node's cache was filled with, for data locality.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Table, migration

revision = "0012"
down_revision = "0011"

upgrade, downgrade = migration(
    Columns("jobs", sa.Column("datasets", sa.JSON(), nullable=False, server_default="[]")),
    Table(
        "node_data",
        sa.Column("node_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("used_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id", "version_id"),
        indexes=["version_id"],
    ),
)
