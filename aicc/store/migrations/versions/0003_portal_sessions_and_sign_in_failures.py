"""portal sessions and sign-in failures

The row classes are `PortalSessionRow` and `SignInFailureRow` in `aicc/store/tables/tenancy.py`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:52:19.751192
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Log, Table, migration, refs

revision = "0003"
down_revision = "0002"

upgrade, downgrade = migration(
    Log(
        "portal_sign_in_failures",
        sa.Column("at", AT, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        indexes=[
            "at",
            "client",
            "username",
        ],
    ),
    Table(
        "portal_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("expires_at", AT, nullable=False),
        *refs(("user_id", "users.id")),
        sa.PrimaryKeyConstraint("id"),
        indexes=[
            "expires_at",
            "user_id",
        ],
    ),
)
