"""audit.seq and audit.hash: the audit log as a keyed hash chain (services/tenancy/audit.py)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-24 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_seq", ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("seq")
