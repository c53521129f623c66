"""notebooks: a user's JupyterLab in a project, its current job, and when it was culled

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notebooks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("idle_timeout_s", sa.Integer(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=True),
        sa.Column("job_id", sa.String(length=40), nullable=True),
        sa.Column("culled_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cull_message", sa.Text(), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "user_id", "name"),
    )
    with op.batch_alter_table("notebooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notebooks_job_id"), ["job_id"])
        batch_op.create_index(batch_op.f("ix_notebooks_org_id"), ["org_id"])
        batch_op.create_index(batch_op.f("ix_notebooks_project_id"), ["project_id"])
        batch_op.create_index(batch_op.f("ix_notebooks_user_id"), ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("notebooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notebooks_user_id"))
        batch_op.drop_index(batch_op.f("ix_notebooks_project_id"))
        batch_op.drop_index(batch_op.f("ix_notebooks_org_id"))
        batch_op.drop_index(batch_op.f("ix_notebooks_job_id"))
    op.drop_table("notebooks")
