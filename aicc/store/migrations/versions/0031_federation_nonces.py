"""federation_nonces: the nonces peers signed their requests with, kept for the clock window,
so that a signed request replayed within it is refused (issue 35)

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-25 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from aicc.store.tables import UTCDateTime

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_nonces",
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site", "nonce"),
    )
    op.create_index("ix_federation_nonces_expires_at", "federation_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_federation_nonces_expires_at", table_name="federation_nonces")
    op.drop_table("federation_nonces")
