"""tokens.scopes: what a token may do on its user's behalf (core/tenancy.py Scope)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-24 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.JSON(), nullable=False, server_default=sa.text("'[\"all\"]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
