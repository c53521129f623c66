"""burn in (issue 40): each node's burn-in before service, its figures and verdict

Revision ID: 0042
Revises: 0041
Create Date: 2026-11-27 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, ix, migration

revision = "0042"
down_revision = "0041"

upgrade, downgrade = migration(
    Entity(
        "burn_ins",
        sa.Column("node_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", ID, nullable=True),
        sa.Column("started_at", AT, nullable=False),
        sa.Column("ended_at", AT, nullable=True),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        indexes=["job_id", "state", ix("ix_burn_ins_node_started", "node_id", "started_at")],
    ),
)
