"""s3 keys: a user's access keys to the S3 endpoint, each secret sealed (SigV4 needs it back)

Revision ID: 0053
Revises: 0052
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Entity, migration, refs

revision = "0053"
down_revision = "0052"

upgrade, downgrade = migration(
    Entity(
        "s3_keys",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("access_key_id", sa.String(length=32), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("last_used_at", AT, nullable=True),
        *refs(("user_id", "users.id")),
        sa.UniqueConstraint("access_key_id"),
        indexes=["user_id"],
    ),
)
