"""federation_nonces: the nonces peers signed their requests with, kept for the clock window,
so that a signed request replayed within it is refused (issue 35)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-25 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, Table, migration

revision = "0031"
down_revision = "0030"

upgrade, downgrade = migration(
    Table(
        "federation_nonces",
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("site", "nonce"),
        indexes=["expires_at"],
    ),
)
