"""preemption bookkeeping on jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 12:31:58.054661
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0004"
down_revision = "0003"

upgrade, downgrade = migration(
    Columns(
        "jobs",
        sa.Column("borrowed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("preempted_by", sa.JSON(), nullable=False, server_default="[]"),
    ),
)
