"""portal sessions and sign-in failures

The row classes are `PortalSessionRow` and `SignInFailureRow` in `aicc/store/tables.py`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:52:19.751192
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aicc.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portal_sign_in_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_sign_in_failures_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_portal_sign_in_failures_client"), ["client"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_portal_sign_in_failures_username"), ["username"], unique=False
        )

    op.create_table(
        "portal_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("created_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", aicc.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_portal_sessions_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_portal_sessions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_portal_sessions_expires_at"))

    op.drop_table("portal_sessions")
    with op.batch_alter_table("portal_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sign_in_failures_username"))
        batch_op.drop_index(batch_op.f("ix_portal_sign_in_failures_client"))
        batch_op.drop_index(batch_op.f("ix_portal_sign_in_failures_at"))

    op.drop_table("portal_sign_in_failures")
