"""challenges.split_key: the secret that draws which hidden rows score the public board
(issue 57), so that no team computes the split from the challenge's public id. NULL for every
challenge made before: their boards keep the split their scores were made with.

Revision ID: 0050
Revises: 0049
Create Date: 2026-11-28 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0050"
down_revision = "0049"

upgrade, downgrade = migration(
    Columns("challenges", sa.Column("split_key", sa.String(length=64), nullable=True))
)
