"""notebooks: a user's JupyterLab in a project, its current job, and when it was culled

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs, stamps

revision = "0019"
down_revision = "0018"

upgrade, downgrade = migration(
    Entity(
        "notebooks",
        sa.Column("org_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("idle_timeout_s", sa.Integer(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=True),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("culled_at", AT, nullable=True),
        sa.Column("cull_message", sa.Text(), nullable=False),
        *stamps(),
        *refs(
            ("job_id", "jobs.id"),
            ("org_id", "orgs.id"),
            ("project_id", "projects.id"),
            ("user_id", "users.id"),
        ),
        sa.UniqueConstraint("project_id", "user_id", "name"),
        indexes=["job_id", "org_id", "project_id", "user_id"],
    ),
)
