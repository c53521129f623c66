"""data mounts: jobs' pinned data set versions, and what each node's data cache holds

`jobs.datasets` keeps the exact versions a job's `datasets` resolved to at submit;
`node_data` records the versions a node's cache was filled with, for data locality.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 01:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("datasets", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "node_data",
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("version_id", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("used_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id", "version_id"),
    )
    with op.batch_alter_table("node_data", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_data_version_id"), ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("node_data", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_data_version_id"))
    op.drop_table("node_data")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("datasets")
