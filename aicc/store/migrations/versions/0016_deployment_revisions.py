"""deployment revisions (for rollback), start failures with backoff, and each replica's probe
failures, first readiness and drain

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_revisions",
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("model_id", sa.String(length=40), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["deployment_id"], ["deployments.id"]),
        sa.PrimaryKeyConstraint("deployment_id", "revision"),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("retry_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("deployment_replicas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("probe_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("first_ready_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("draining_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("deployment_replicas", schema=None) as batch_op:
        batch_op.drop_column("draining_at")
        batch_op.drop_column("first_ready_at")
        batch_op.drop_column("probe_failures")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("retry_at")
        batch_op.drop_column("failures")
    op.drop_table("deployment_revisions")
