"""autoscaling: the requests in flight per replica a deployment's autoscaler aims for

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0017"
down_revision = "0016"

upgrade, downgrade = migration(
    Columns("deployments", sa.Column("target_concurrency", sa.Double(), nullable=True))
)
