"""uploads.declared_bytes: the bytes an upload's `begin` calls asked the client to send, in all
(issue 35: "an upload is not bounded by what begin declared"); `/chunks` takes no more. NULL, as
every upload made before it and those the server makes itself, is bounded by the quota alone.

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-25 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0033"
down_revision = "0032"

upgrade, downgrade = migration(
    Columns("uploads", sa.Column("declared_bytes", sa.BigInteger(), nullable=True))
)
