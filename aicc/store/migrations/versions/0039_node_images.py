"""node_images: which image each node pulled into its engine's storage (issue 39: the scheduler
prefers nodes that already hold a job's image, as `node_data` does for data sets)

Revision ID: 0039
Revises: 0038
Create Date: 2026-11-26 22:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Table, migration

revision = "0039"
down_revision = "0038"

upgrade, downgrade = migration(
    Table(
        "node_images",
        sa.Column("node_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=512), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("used_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id", "reference"),
        indexes=["reference"],
    ),
)
