"""tokens.scopes: what a token may do on its user's behalf (core/tenancy.py Scope)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-24 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0022"
down_revision = "0021"

upgrade, downgrade = migration(
    Columns(
        "tokens",
        sa.Column("scopes", sa.JSON(), nullable=False, server_default=sa.text("'[\"all\"]'")),
    )
)
