"""gateway_load: each server's requests in flight per deployment and second, for the leader's
autoscaler to add up (one server's gateway saw only its own share before)

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-25 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_load",
        sa.Column("server", sa.String(length=200), nullable=False),
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("second", sa.Float(), nullable=False),
        sa.Column("concurrency", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("server", "deployment_id", "second"),
    )


def downgrade() -> None:
    op.drop_table("gateway_load")
