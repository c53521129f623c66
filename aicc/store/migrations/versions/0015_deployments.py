"""deployments: model APIs kept running as replicas, each a service job of one revision; and
when a listening replica passed its readiness check

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Named, Table, migration, refs, stamps

revision = "0015"
down_revision = "0014"

upgrade, downgrade = migration(
    Named(
        "deployments",
        sa.Column("model_id", ID, nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("desired", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        *stamps(),
        indexes=["state"],
    ),
    Table(
        "deployment_replicas",
        sa.Column("job_id", ID, nullable=False),
        sa.Column("deployment_id", ID, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        *refs(("deployment_id", "deployments.id"), ("job_id", "jobs.id")),
        sa.PrimaryKeyConstraint("job_id"),
        indexes=["deployment_id"],
    ),
    Columns("replicas", sa.Column("ready_at", AT, nullable=True)),
)
