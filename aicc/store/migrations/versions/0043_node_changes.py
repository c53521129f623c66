"""node changes (issue 40, SLA reports): each node state and device health change, with when

Revision ID: 0043
Revises: 0042
Create Date: 2026-11-27 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Log, ix, migration

revision = "0043"
down_revision = "0042"

upgrade, downgrade = migration(
    Log(
        "node_changes",
        sa.Column("node_id", ID, nullable=False),
        sa.Column("index", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        indexes=[ix("ix_node_changes_node_at", "node_id", "at")],
    ),
)
