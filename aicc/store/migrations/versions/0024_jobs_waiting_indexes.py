"""jobs: indexes for a submit's waiting-limit counts (per user, per queue, by state), which
otherwise read every job the user or queue ever had

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-24 22:00:00
"""

from __future__ import annotations

from aicc.store.migrations.ops import Indexes, ix, migration

revision = "0024"
down_revision = "0023"

upgrade, downgrade = migration(
    Indexes(
        "jobs",
        ix("ix_jobs_user_state", "user_id", "state"),
        ix("ix_jobs_queue_state", "queue_id", "state"),
    ),
)
