"""jobs: indexes for a submit's waiting-limit counts (per user, per queue, by state), which
otherwise read every job the user or queue ever had

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-24 22:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_user_state", "jobs", ["user_id", "state"])
    op.create_index("ix_jobs_queue_state", "jobs", ["queue_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_queue_state", table_name="jobs")
    op.drop_index("ix_jobs_user_state", table_name="jobs")
