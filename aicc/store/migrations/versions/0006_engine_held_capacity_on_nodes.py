"""engine-held capacity on nodes

What jobs outside AICC hold on a node (jobs users submitted to Slurm directly), as its
executor last reported: {"cpu_milli", "memory_mib", "devices"}.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0006"
down_revision = "0005"

upgrade, downgrade = migration(
    Columns("nodes", sa.Column("engine_held", sa.JSON(), nullable=False, server_default="{}"))
)
