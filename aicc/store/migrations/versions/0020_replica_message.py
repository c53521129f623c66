"""replicas.message: what the engine said when it ended or refused a replica

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-24 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0020"
down_revision = "0019"

upgrade, downgrade = migration(Columns("replicas", sa.Column("message", sa.Text(), nullable=True)))
