"""deployment revisions (for rollback), start failures with backoff, and each replica's probe
failures, first readiness and drain

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Table, migration, refs

revision = "0016"
down_revision = "0015"

upgrade, downgrade = migration(
    Table(
        "deployment_revisions",
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("model_id", ID, nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("deployment_id", "deployments.id")),
        sa.PrimaryKeyConstraint("deployment_id", "revision"),
    ),
    Columns(
        "deployments",
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("retry_at", AT, nullable=True),
    ),
    Columns(
        "deployment_replicas",
        sa.Column("probe_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_ready_at", AT, nullable=True),
        sa.Column("draining_at", AT, nullable=True),
    ),
)
