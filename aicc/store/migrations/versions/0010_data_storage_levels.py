"""data set storage levels: each project's distinct chunk bytes over time, for the meter

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_storage_levels",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_storage_levels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_data_storage_levels_project_at", ["project_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("data_storage_levels", schema=None) as batch_op:
        batch_op.drop_index("ix_data_storage_levels_project_at")
    op.drop_table("data_storage_levels")
