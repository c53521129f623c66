"""portal sessions remember the token they came from

A session started with an API token ends when that token is revoked or expires: the session
names its token (`portal_sessions.token_id`, empty for a password sign-in), and every request
checks it. Sessions from before this revision cannot say which token they came from, so they
are ended here; the people behind them sign in again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.execute("DELETE FROM portal_sessions")
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_portal_sessions_token_id"), ["token_id"])
        batch_op.create_foreign_key(
            "fk_portal_sessions_token_id_tokens", "tokens", ["token_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("portal_sessions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_portal_sessions_token_id_tokens", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_portal_sessions_token_id"))
        batch_op.drop_column("token_id")
