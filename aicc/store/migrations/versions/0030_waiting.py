"""waiting: jobs waiting per user and per queue, kept as they change (a submit counted them);
and the two indexes that only those counts used dropped (0024): PostgreSQL's prepared plan for a
submit's Idempotency-Key lookup (user_id, idempotency_key) took ix_jobs_user_state instead of
the unique index, walking all of the user's jobs (2.2 ms a submit at 20,000)

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-25 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"


def upgrade() -> None:
    op.create_table(
        "waiting",
        sa.Column("owner", sa.String(length=48), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    for scope, column in (("user", "user_id"), ("queue", "queue_id")):
        op.execute(
            f"INSERT INTO waiting (owner, jobs) SELECT '{scope}/' || {column}, count(*) "
            f"FROM jobs WHERE state IN ('pending', 'admitted') GROUP BY {column}"
        )
    op.drop_index("ix_jobs_user_state", table_name="jobs")
    op.drop_index("ix_jobs_queue_state", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_user_state", "jobs", ["user_id", "state"])
    op.create_index("ix_jobs_queue_state", "jobs", ["queue_id", "state"])
    op.drop_table("waiting")
