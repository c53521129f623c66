"""challenge_awards.model: the awarded team's model as the poster received it (ORG/PROJECT/
NAME@N in the poster's project, under terms that give it the results), NULL where the terms
keep the results with the provider, and for every award made before.

Revision ID: 0046
Revises: 0045
Create Date: 2026-11-27 10:05:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0046"
down_revision = "0045"

upgrade, downgrade = migration(
    Columns("challenge_awards", sa.Column("model", sa.String(length=300), nullable=True))
)
