"""queues.max_replicas_per_job: a queue's bound on one job's replicas (issue 35: "gangs bounded
per queue"); NULL, as every queue made before it, leaves the center's `limits.max_replicas_per_job`

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-25 21:00:00

A queue's bound never raises the center's: a submit meets the smaller of the two.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_replicas_per_job", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("max_replicas_per_job")
