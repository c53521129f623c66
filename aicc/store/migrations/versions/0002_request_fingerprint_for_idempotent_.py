"""request fingerprint for idempotent submit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:31:32.985394
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0002"
down_revision = "0001"

upgrade, downgrade = migration(
    Columns("jobs", sa.Column("request_sha256", sa.String(length=64), nullable=True))
)
