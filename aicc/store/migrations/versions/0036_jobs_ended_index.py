"""An index on jobs by state and end: the scheduling loop's runtime predictor reads, at every
pass, the jobs that succeeded since its last (services/jobs/runtimes.py); without it each pass
scanned the whole table (45-50 ms of CPU at 100,000 jobs on SQLite).

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-26 15:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0036"
down_revision = "0035"


def upgrade() -> None:
    op.create_index("ix_jobs_state_ended", "jobs", ["state", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_ended", table_name="jobs")
