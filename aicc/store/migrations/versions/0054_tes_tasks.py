"""tes_tasks: a GA4GH TES task (issue 60) beside the job it runs as: the task document as sent
and the system logs written at create, for the answers of /ga4gh/tes/v1.

Revision ID: 0054
Revises: 0053
Create Date: 2026-11-28 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Table, migration, refs

revision = "0054"
down_revision = "0053"

upgrade, downgrade = migration(
    Table(
        "tes_tasks",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("name", sa.String(length=4096), nullable=True),
        sa.Column("task", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id"),
        indexes=["org_id", "project_id"],
    )
)
