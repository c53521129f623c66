"""deployments: model APIs kept running as replicas, each a service job of one revision; and
when a listening replica passed its readiness check

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("project_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name"),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_project_id"), ["project_id"])
        batch_op.create_index(batch_op.f("ix_deployments_state"), ["state"])
    op.create_table(
        "deployment_replicas",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("deployment_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployment_replicas_deployment_id"), ["deployment_id"])
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ready_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("replicas", schema=None) as batch_op:
        batch_op.drop_column("ready_at")
    with op.batch_alter_table("deployment_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployment_replicas_deployment_id"))
    op.drop_table("deployment_replicas")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_state"))
        batch_op.drop_index(batch_op.f("ix_deployments_project_id"))
    op.drop_table("deployments")
