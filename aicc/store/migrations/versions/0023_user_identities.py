"""user_identities: users' accounts at single sign-on providers (issuer + subject, unique)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-24 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs

revision = "0023"
down_revision = "0022"

upgrade, downgrade = migration(
    Entity(
        "user_identities",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("last_sign_in_at", AT, nullable=False),
        *refs(("user_id", "users.id")),
        sa.UniqueConstraint("issuer", "subject"),
        indexes=["user_id"],
    ),
)
