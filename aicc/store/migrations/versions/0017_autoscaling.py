"""autoscaling: the requests in flight per replica a deployment's autoscaler aims for

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_concurrency", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("target_concurrency")
