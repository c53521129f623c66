"""node_power_limit: device_samples.limit_w, the power limit a node's BMC said was in force
beside each power sample, so a node's power curve shows the limit it ran under (issue 62)

Revision ID: 0059
Revises: 0058
Create Date: 2026-11-28 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0059"
down_revision = "0058"

upgrade, downgrade = migration(
    Columns("device_samples", sa.Column("limit_w", sa.Double(), nullable=True)),
)
